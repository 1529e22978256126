// Times, on the same tensor, the fused WTConv2d forward (NCHW,
// channels-last and channel-blocked nChw16c), the staged baseline (every stage through memory, as the
// reference module runs it), our plain depthwise k x k conv and oneDNN's
// fastest depthwise k x k conv, on the WTConvNeXt-T stage shapes and two
// large planes; then prints a table of medians, ratios, GFLOP/s, the
// fraction of the FMA peak, the memory floor, and the fused output's error
// against the double-precision reference.
//
//   wtconv_bench [--benchmark_* flags]   (e.g. --benchmark_filter=fused;
//                           --benchmark_repetitions=N, default 15)
//   WTCONV_PEAK_GFLOPS=x    the machine's FMA peak (default: measured before
//                           and after the benchmarks, the larger kept; all
//                           threads, the widest vectors the CPU has)
//   WTCONV_BANDWIDTH_GBS=x  its memcpy bandwidth (default: measured the same
//                           way, 64 MiB per thread)
#include "reference.h"  // tests/: the double-precision reference
#include "machine_ceilings.h"
#include "onednn_depthwise.h"
#include "pipelines.h"        // runtime/: the plain depthwise conv

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <new>
#include <string>
#include <thread>

namespace {

using namespace wtconv;
using namespace wtconv::testing;

struct Shape {
    int N, C, H, W, levels;
    std::string name() const {
        char s[64];
        std::snprintf(s, sizeof s, "%dx%dx%dx%d/L%d", N, C, H, W, levels);
        return s;
    }
};

// Tensors start on a 64-byte boundary, as PyTorch's CPU allocator places
// them. A std::vector's large blocks start 16 bytes past one: channels-last
// tasks on neighbouring channel blocks then write the same cache lines, and
// channels-last forwards ran 1.2-1.9x slower (docs/PERFORMANCE.md, step 17).
template<typename T>
struct Aligned64 {
    using value_type = T;
    static constexpr std::align_val_t kAlign{64};
    Aligned64() = default;
    template<typename U>
    Aligned64(const Aligned64<U> &) {}
    T *allocate(size_t n) { return static_cast<T *>(::operator new(n * sizeof(T), kAlign)); }
    void deallocate(T *p, size_t) { ::operator delete(p, kAlign); }
    bool operator==(const Aligned64 &) const { return true; }
    bool operator!=(const Aligned64 &) const { return false; }
};
using Floats = std::vector<float, Aligned64<float>>;

constexpr int kKernel = 5;
const std::vector<Shape> kShapes = {
    {1, 96, 56, 56, 5}, {1, 192, 28, 28, 4}, {1, 384, 14, 14, 3}, {1, 768, 7, 7, 2},
    {8, 96, 56, 56, 5}, {8, 192, 28, 28, 4}, {8, 384, 14, 14, 3}, {8, 768, 7, 7, 2},
    {1, 64, 224, 224, 3}, {1, 32, 512, 512, 4},
};

// FLOPs of one forward (multiply and add counted as 2): base conv, band
// convs of every level, and the Haar DWT / IDWT (4 taps per band per
// coefficient each way).
double wtconv_flops(const Shape &s) {
    double per_plane = 2.0 * kKernel * kKernel * s.H * s.W;
    int h = s.H, w = s.W;
    for (int l = 0; l < s.levels; l++) {
        h = (h + 1) / 2;
        w = (w + 1) / 2;
        per_plane += 4.0 * h * w * (2.0 * kKernel * kKernel + 2 * 2.0 * 4);
    }
    return per_plane * s.N * s.C;
}

double depthwise_flops(const Shape &s) { return 2.0 * kKernel * kKernel * s.H * s.W * s.N * s.C; }

const Layout kLayouts[] = {Layout::nchw, Layout::channels_last, Layout::nchw16c};

// One shape's layer and tensors, shared by its benchmarks.
struct Case {
    RandomLayer spec;
    Layer layer;
    std::vector<float> x_reference;  // the input, as the reference reads it
    Floats x[3], y[3];               // the input and an output in each of kLayouts
    Halide::Runtime::Buffer<float, 3> depthwise_weight;
    std::unique_ptr<wtconv::bench::OneDnnDepthwise> onednn;

    // The input or output tensor in `layout`.
    Tensor tensor(const Shape &s, Layout layout, bool output) {
        Floats &data = (output ? y : x)[int(layout)];
        return detail::contiguous(data.data(), {s.N, s.C, s.H, s.W}, layout);
    }
};

Case &case_for(const Shape &s) {
    static std::map<std::string, std::unique_ptr<Case>> cases;
    auto &c = cases[s.name()];
    if (!c) {
        Random rnd(uint64_t(s.C * 1000 + s.H));
        RandomLayer spec = random_layer({s.C, kKernel, s.levels, 1, "db1", true}, rnd);
        Layer layer = spec.make_layer();
        std::vector<float> x = rnd.nonzero_vector(size_t(s.N) * s.C * s.H * s.W);
        c.reset(new Case{std::move(spec), std::move(layer), x});
        c->depthwise_weight = Halide::Runtime::Buffer<float, 3>(kKernel, kKernel, s.C);
        c->depthwise_weight.for_each_value([&](float &v) { v = rnd.nonzero(); });
        const ConstTensor logical = ConstTensor::nchw(x.data(), s.N, s.C, s.H, s.W);
        for (Layout layout : kLayouts) {
            const size_t elements = detail::contiguous_elements(logical.shape, layout);
            c->x[int(layout)].assign(elements, 0.0f);
            c->y[int(layout)].assign(elements, 0.0f);
            detail::copy_elements(logical, c->tensor(s, layout, false));
        }
    }
    return *c;
}

void run_layer(benchmark::State &state, const Shape &s, Path path, Layout layout) {
    Case &c = case_for(s);
    const ConstTensor X = c.tensor(s, layout, false);
    const Tensor Y = c.tensor(s, layout, true);
    for (auto _ : state) c.layer.forward(X, Y, path);
    state.counters["GFLOP/s"] = benchmark::Counter(wtconv_flops(s), benchmark::Counter::kIsIterationInvariantRate,
                                                   benchmark::Counter::kIs1000);
    const Variant v = c.layer.variant_for(X, Y, path);
    state.SetLabel(std::string(to_string(v.path)) + "/" + to_string(v.layout) + "/" + v.isa);
}

void run_onednn(benchmark::State &state, const Shape &s) {
    Case &c = case_for(s);
    if (!c.onednn) c.onednn.reset(new wtconv::bench::OneDnnDepthwise(s.N, s.C, s.H, s.W, kKernel));
    for (auto _ : state) c.onednn->run();
    state.counters["GFLOP/s"] = benchmark::Counter(depthwise_flops(s), benchmark::Counter::kIsIterationInvariantRate,
                                                   benchmark::Counter::kIs1000);
    state.SetLabel(c.onednn->name());
}

void run_depthwise(benchmark::State &state, const Shape &s) {
    Case &c = case_for(s);
    auto X = detail::halide_view(ConstTensor(c.tensor(s, Layout::nchw, false)));
    auto Y = detail::halide_view(c.tensor(s, Layout::nchw, true));
    for (auto _ : state) detail::run_depthwise(c.depthwise_weight, X, Y);
    state.counters["GFLOP/s"] = benchmark::Counter(depthwise_flops(s), benchmark::Counter::kIsIterationInvariantRate,
                                                   benchmark::Counter::kIs1000);
}

// Keeps the median of every benchmark for the summary table.
class MedianCollector : public benchmark::ConsoleReporter {
public:
    std::map<std::string, double> median_ms;
    void ReportRuns(const std::vector<Run> &runs) override {
        for (const Run &r : runs) {
            if (r.aggregate_name == "median") {
                median_ms[r.run_name.function_name] = r.GetAdjustedRealTime() * 1e3 /
                                                      benchmark::GetTimeUnitMultiplier(r.time_unit);
            }
        }
        ConsoleReporter::ReportRuns(runs);
    }
};

// The worst relative error of the fused forward, over the three layouts.
double max_relative_error(const Shape &s) {
    Case &c = case_for(s);
    const std::vector<double> ref = reference_forward(c.spec, c.x_reference, s.N, s.H, s.W);
    const std::vector<double> mag = reference_forward(c.spec, c.x_reference, s.N, s.H, s.W, true);
    double worst = 0;
    for (Layout layout : kLayouts) {
        const Tensor Y = c.tensor(s, layout, true);
        c.layer.forward(c.tensor(s, layout, false), Y);
        std::vector<float> y(ref.size());
        detail::copy_elements(ConstTensor(Y), Tensor::nchw(y.data(), s.N, s.C, s.H, s.W));
        for (size_t i = 0; i < y.size(); i++) worst = std::max(worst, std::fabs(y[i] - ref[i]) / mag[i]);
    }
    return worst;
}

double env_or(const char *name, double fallback) {
    const char *v = std::getenv(name);
    return v ? std::atof(v) : fallback;
}

}  // namespace

int run(int argc, char **argv);

int main(int argc, char **argv) {
    try {
        return run(argc, argv);
    } catch (const wtconv::Error &e) {
        std::fprintf(stderr, "wtconv_bench: %s\n", e.what());
        return 1;
    }
}

int run(int argc, char **argv) {
    // Fails early on a bad WTCONV_CPU_ISA, and names the variant measured.
    std::printf("CPU variant: %s (WTCONV_CPU_ISA=avx512|avx2|sse41 caps it)\n",
                case_for(kShapes.back()).layer.variant().isa.c_str());
    // Fifteen repetitions unless --benchmark_repetitions says otherwise (a
    // benchmark's own count would override the flag). On a shared machine
    // more repetitions steady the medians: a neighbour's burst then moves
    // fewer of them.
    const bool repetitions_given = std::any_of(argv + 1, argv + argc, [](const char *a) {
        return std::string(a).rfind("--benchmark_repetitions", 0) == 0;
    });
    auto add = [&](const std::string &name, auto fn) {
        benchmark::internal::Benchmark *b =
            benchmark::RegisterBenchmark(name.c_str(), fn)->Unit(benchmark::kMillisecond)->UseRealTime()->ReportAggregatesOnly(true);
        if (!repetitions_given) b->Repetitions(15);
    };
    for (const Shape &s : kShapes) {
        add("fused_nchw/" + s.name(), [s](benchmark::State &st) { run_layer(st, s, Path::automatic, Layout::nchw); });
        add("fused_nhwc/" + s.name(),
            [s](benchmark::State &st) { run_layer(st, s, Path::automatic, Layout::channels_last); });
        add("fused_nchw16c/" + s.name(),
            [s](benchmark::State &st) { run_layer(st, s, Path::automatic, Layout::nchw16c); });
        add("staged/" + s.name(), [s](benchmark::State &st) { run_layer(st, s, Path::staged, Layout::nchw); });
        add("depthwise/" + s.name(), [s](benchmark::State &st) { run_depthwise(st, s); });
        add("onednn_dw/" + s.name(), [s](benchmark::State &st) { run_onednn(st, s); });
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

    // The floors' ceilings, measured here unless given (the machine's kind
    // changes between sessions: an AVX-512 Xeon, an AVX2 EPYC): before and
    // after the benchmarks, the larger kept, so that a neighbour's burst
    // at one moment does not lower the floors (they bound the hardware).
    const int threads = int(std::thread::hardware_concurrency());
    std::string isa = "given";
    const double given_peak = env_or("WTCONV_PEAK_GFLOPS", 0), given_bandwidth = env_or("WTCONV_BANDWIDTH_GBS", 0);
    double peak = given_peak, bandwidth = given_bandwidth;
    auto measure_ceilings = [&] {
        if (!(given_peak > 0)) peak = std::max(peak, wtconv::bench::widest_fma_peak_gflops(threads, &isa));
        if (!(given_bandwidth > 0)) bandwidth = std::max(bandwidth, wtconv::bench::memcpy_gbs(threads, size_t(64) << 20));
    };
    measure_ceilings();
    MedianCollector reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    measure_ceilings();
    std::printf("\nFMA peak %.1f GFLOP/s (%s, %d threads), memcpy %.1f GB/s\n", peak, isa.c_str(), threads, bandwidth);
    std::printf("\nWTConv2d forward, k = %d, Haar, medians (ms). best = fastest fused layout; error = max over layouts of |fused - "
                "reference| / |terms|;\nfloor = max(FLOPs at %.1f GFLOP/s, 8 bytes per element at %.1f GB/s)\n",
                kKernel, peak, bandwidth);
    std::printf("%-20s %8s %8s %8s %8s %8s %8s %9s %9s %8s %6s %8s %9s  %s\n", "shape (NxCxHxW/L)", "nchw", "nhwc",
                "nchw16c", "staged", "our dw", "oneDNN", "best/dnn", "staged/bst", "GFLOP/s", "%peak", "floor", "error",
                "oneDNN impl");
    for (const Shape &s : kShapes) {
        auto get = [&](const char *label) {
            auto it = reporter.median_ms.find(std::string(label) + "/" + s.name());
            return it == reporter.median_ms.end() ? NAN : it->second;
        };
        const double nchw = get("fused_nchw"), nhwc = get("fused_nhwc"), blocked = get("fused_nchw16c"),
                     staged = get("staged"), dw = get("depthwise"), dnn = get("onednn_dw");
        double best = NAN;
        for (double t : {nchw, nhwc, blocked}) {
            if (!std::isnan(t) && !(t >= best)) best = t;
        }
        if (std::isnan(best) && std::isnan(staged) && std::isnan(dw) && std::isnan(dnn)) continue;
        const double gflops = wtconv_flops(s) / (best * 1e6);
        const double floor_ms =
            std::max(wtconv_flops(s) / (peak * 1e6), 8.0 * s.N * s.C * s.H * s.W / (bandwidth * 1e6));
        Case &c = case_for(s);
        std::printf("%-20s %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f %9.2f %9.2f %8.1f %5.1f%% %8.3f %9.2e  %s\n",
                    s.name().c_str(), nchw, nhwc, blocked, staged, dw, dnn, best / dnn, staged / best, gflops, 100 * gflops / peak, floor_ms,
                    max_relative_error(s), c.onednn ? c.onednn->name().c_str() : "-");
    }
    return 0;
}
