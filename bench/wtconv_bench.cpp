// Times, on the same tensor, the fused WTConv2d forward, the staged baseline
// (every stage through memory, as the reference module runs it) and a plain
// depthwise k x k conv, on the WTConvNeXt-T stage shapes; then prints a
// table of medians, GFLOP/s, ratios, and the fused output's error against
// the double-precision reference.
//
//   wtconv_bench [--benchmark_* flags]   (e.g. --benchmark_filter=fused)
#include "reference.h"  // tests/: the double-precision reference
#include "pipelines.h"        // runtime/: the plain depthwise conv

#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>

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

constexpr int kKernel = 5;
const std::vector<Shape> kShapes = {
    {1, 96, 56, 56, 5}, {1, 192, 28, 28, 4}, {1, 384, 14, 14, 3}, {1, 768, 7, 7, 2},
    {8, 96, 56, 56, 5}, {8, 192, 28, 28, 4}, {8, 384, 14, 14, 3}, {8, 768, 7, 7, 2},
    {1, 64, 224, 224, 3},
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

// One shape's layer and tensors, shared by its three benchmarks.
struct Case {
    RandomLayer spec;
    Layer layer;
    std::vector<float> x, y;
    Halide::Runtime::Buffer<float, 3> depthwise_weight;
};

Case &case_for(const Shape &s) {
    static std::map<std::string, std::unique_ptr<Case>> cases;
    auto &c = cases[s.name()];
    if (!c) {
        Random rnd(uint64_t(s.C * 1000 + s.H));
        RandomLayer spec = random_layer({s.C, kKernel, s.levels, 1, "db1", true}, rnd);
        Layer layer = spec.make_layer();
        c.reset(new Case{std::move(spec), std::move(layer), rnd.nonzero_vector(size_t(s.N) * s.C * s.H * s.W),
                         std::vector<float>(size_t(s.N) * s.C * s.H * s.W), {}});
        c->depthwise_weight = Halide::Runtime::Buffer<float, 3>(kKernel, kKernel, s.C);
        c->depthwise_weight.for_each_value([&](float &v) { v = rnd.nonzero(); });
    }
    return *c;
}

void run_layer(benchmark::State &state, const Shape &s, Path path) {
    Case &c = case_for(s);
    const auto X = ConstTensor::nchw(c.x.data(), s.N, s.C, s.H, s.W);
    const auto Y = Tensor::nchw(c.y.data(), s.N, s.C, s.H, s.W);
    for (auto _ : state) c.layer.forward(X, Y, path);
    state.counters["GFLOP/s"] = benchmark::Counter(wtconv_flops(s), benchmark::Counter::kIsIterationInvariantRate,
                                                   benchmark::Counter::kIs1000);
    state.SetLabel(std::string(to_string(c.layer.variant(path).path)) + "/" + c.layer.variant(path).isa);
}

void run_depthwise(benchmark::State &state, const Shape &s) {
    Case &c = case_for(s);
    auto X = detail::halide_view(ConstTensor::nchw(c.x.data(), s.N, s.C, s.H, s.W));
    auto Y = detail::halide_view(Tensor::nchw(c.y.data(), s.N, s.C, s.H, s.W));
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

double max_relative_error(const Shape &s) {
    Case &c = case_for(s);
    c.layer.forward(ConstTensor::nchw(c.x.data(), s.N, s.C, s.H, s.W), Tensor::nchw(c.y.data(), s.N, s.C, s.H, s.W));
    const std::vector<double> ref = reference_forward(c.spec, c.x, s.N, s.H, s.W);
    const std::vector<double> mag = reference_forward(c.spec, c.x, s.N, s.H, s.W, true);
    double worst = 0;
    for (size_t i = 0; i < ref.size(); i++) worst = std::max(worst, std::fabs(c.y[i] - ref[i]) / mag[i]);
    return worst;
}

}  // namespace

int main(int argc, char **argv) {
    for (const Shape &s : kShapes) {
        for (auto [label, path] : {std::pair{"fused", Path::automatic}, {"staged", Path::staged}}) {
            benchmark::RegisterBenchmark((std::string(label) + "/" + s.name()).c_str(),
                                         [s, path = path](benchmark::State &st) { run_layer(st, s, path); })
                ->Unit(benchmark::kMillisecond)->UseRealTime()->Repetitions(5)->ReportAggregatesOnly(true);
        }
        benchmark::RegisterBenchmark(("depthwise/" + s.name()).c_str(),
                                     [s](benchmark::State &st) { run_depthwise(st, s); })
            ->Unit(benchmark::kMillisecond)->UseRealTime()->Repetitions(5)->ReportAggregatesOnly(true);
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    MedianCollector reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);

    std::printf("\nWTConv2d forward, k = %d, Haar, medians (ms); error = max |fused - reference| / |terms|\n", kKernel);
    std::printf("%-22s %10s %10s %10s %12s %12s %10s %10s\n", "shape (NxCxHxW/L)", "fused", "staged", "depthwise",
                "fused/dw", "staged/fused", "GFLOP/s", "error");
    for (const Shape &s : kShapes) {
        auto get = [&](const char *label) {
            auto it = reporter.median_ms.find(std::string(label) + "/" + s.name());
            return it == reporter.median_ms.end() ? -1.0 : it->second;
        };
        const double fused = get("fused"), staged = get("staged"), dw = get("depthwise");
        if (fused < 0 && staged < 0 && dw < 0) continue;
        std::printf("%-22s %10.3f %10.3f %10.3f %12.2f %12.2f %10.1f %10.2e\n", s.name().c_str(), fused, staged, dw,
                    fused / dw, staged / fused, wtconv_flops(s) / (fused * 1e6), max_relative_error(s));
    }
    return 0;
}
