// Times, on one CUDA GPU and on the same device tensors, the fused WTConv2d
// forward (Layer::forward_cuda; eager, and replayed from CUDA graphs), the
// staged baseline where the API has one on CUDA, cuDNN's depthwise k x k and
// 31 x 31 convolutions (float32, CUDNN_FMA_MATH, the fastest algorithm
// cudnnFind returns; NCHW, NHWC logged) and a device-to-device copy of S
// bytes (the 100 %-bandwidth anchor), on the WTConvNeXt-T stages at batch 32 and a 1024^2 plane; then
// prints a table of medians, achieved bandwidth on ideal bytes (x read once
// + y written once = 2S), % of the copy's bandwidth, the ratios to cuDNN,
// kernel launches per call and the fused output's error against the CPU
// forward.
//
// Timing (docs/GPU-NOTES.md 5, 7): everything is queued on one non-blocking
// stream, the one forward_cuda and cuDNN are given; every row warms up
// first (module load, PTX JIT, weight upload, cudnnFind stay untimed); a
// sample is CUDA events around `calls` back-to-back calls, one per
// rotation set, so consecutive calls never reuse a buffer and each pass
// over the sets touches > 3x the L2; the reported figure is the median of
// the samples, per call. Google Benchmark's own time column is the mean of
// one sample (all `calls` calls); the counters hold the per-call figures.
//
//   wtconv_cuda_bench [--benchmark_* flags]   e.g. --benchmark_filter=ours --benchmark_out=r.json
//   WTCONV_CUDNN_LIBRARY=/path/libcudnn.so.9  (default: libcudnn.so.9 on LD_LIBRARY_PATH)
//   WTCONV_BENCH_L2_BYTES=n  the L2 size that sizes the rotation (default: the device's)
//   WTCONV_BENCH_NO_CAPTURE=1  skip counting launches by stream capture
//
// Without a usable CUDA device it prints why and exits 0.
#include "cuda_check.h"
#include "cudnn_depthwise.h"
#include "random_layer.h"  // tests/: random layers

#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

using namespace wtconv;
using namespace wtconv::bench;

struct Shape {
    int N, C, H, W, levels;
    std::string name() const {
        char s[64];
        std::snprintf(s, sizeof s, "%dx%dx%dx%d/L%d", N, C, H, W, levels);
        return s;
    }
    size_t elements() const { return size_t(N) * C * H * W; }
    double bytes() const { return 4.0 * double(elements()); }  // S
};

constexpr int kKernel = 5, kLargeKernel = 31;
const std::vector<Shape> kShapes = {
    {32, 96, 56, 56, 5}, {32, 192, 28, 28, 4}, {32, 384, 14, 14, 3}, {32, 768, 7, 7, 2}, {1, 64, 1024, 1024, 3},
};

struct Device {
    cudaDeviceProp prop{};
    cudaStream_t stream = nullptr;
    cudaEvent_t start = nullptr, stop = nullptr;
    double l2_bytes = 0;
};
Device &device() {
    static Device d;
    return d;
}

// Per-call medians (µs) and labels of every row that ran, for the table.
struct Row {
    double median_us = NAN, min_us = NAN;
    int calls = 0;
    std::string label;
};
std::map<std::string, Row> &rows() {
    static std::map<std::string, Row> r;
    return r;
}

// Fills device floats with values in +-[0.25, 1.25] (never zeros).
std::vector<float> random_values(size_t n, uint64_t seed) {
    std::vector<float> v(n);
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (float &f : v) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;  // xorshift64
        const float mag = 0.25f + float(s >> 40) * (1.0f / float(1 << 24));
        f = (s & 1) ? mag : -mag;
    }
    return v;
}

// One shape's layer, its rotation sets of device buffers and its cuDNN
// convolutions. Layers are made at registration (cheap, host only);
// device buffers and cuDNN only when a row of the shape first runs.
struct Case {
    Shape shape;
    testing::RandomLayer spec;
    std::optional<Layer> layer;
    std::vector<float> host_x;       // set 0's input, for the error check
    std::vector<float *> x, y;       // device, one pair per rotation set
    int sets = 0;
    std::unique_ptr<CudnnDepthwise> dw5, dw5_nhwc, dw31;
    std::vector<cudaGraphExec_t> graphs;  // one captured forward per set (the ours_graph row)

    ~Case() {
        for (cudaGraphExec_t g : graphs) cudaGraphExecDestroy(g);
        for (float *p : x) cudaFree(p);
        for (float *p : y) cudaFree(p);
    }

    void allocate() {
        if (sets) return;
        const double two_s = 2 * shape.bytes();
        sets = std::max(1, int(std::ceil(3 * device().l2_bytes / two_s)));
        const size_t bytes = shape.elements() * sizeof(float);
        host_x = random_values(shape.elements(), uint64_t(shape.C) * 1000 + shape.H);
        x.assign(size_t(sets), nullptr);
        y.assign(size_t(sets), nullptr);
        for (int i = 0; i < sets; i++) {
            x[size_t(i)] = device_alloc<float>(shape.elements());
            y[size_t(i)] = device_alloc<float>(shape.elements());
            WTCONV_CUDA_CHECK(cudaMemcpy(x[size_t(i)], host_x.data(), bytes, cudaMemcpyHostToDevice));
            WTCONV_CUDA_CHECK(cudaMemset(y[size_t(i)], 0xFF, bytes));  // NaN: unwritten outputs show
        }
        // The legacy stream does not order with our non-blocking one.
        WTCONV_CUDA_CHECK(cudaDeviceSynchronize());
    }

    CudnnDepthwise &cudnn(int k, bool nhwc) {
        allocate();
        auto &slot = k == kKernel ? (nhwc ? dw5_nhwc : dw5) : dw31;
        if (!slot) {
            CudnnOptions o;
            o.n = shape.N, o.c = shape.C, o.h = shape.H, o.w = shape.W, o.k = k, o.nhwc = nhwc;
            slot.reset(new CudnnDepthwise(device().stream, o, x[0], y[0]));
            std::printf("cuDNN %dx%d %s %s: %s (cudnnFind %.2f s: %s)\n", k, k, nhwc ? "NHWC" : "NCHW",
                        shape.name().c_str(), slot->name().c_str(), slot->find_seconds(), slot->find_log().c_str());
            std::fflush(stdout);
        }
        return *slot;
    }

#ifdef WTCONV_BENCH_HAVE_FORWARD_CUDA
    void forward(int i, Path path) const {
        const Shape &s = shape;
        CudaExecution exec;
        exec.stream = device().stream;
        layer->forward_cuda(ConstTensor::nchw(x[size_t(i)], s.N, s.C, s.H, s.W),
                            Tensor::nchw(y[size_t(i)], s.N, s.C, s.H, s.W), exec, path);
    }

    // Captures forward(i) of every set into CUDA graphs (the launches
    // without the host's per-call work), after checking that a replay
    // writes exactly what the eager call writes. Throws why it cannot.
    void capture_graphs();
#endif
};

#ifdef WTCONV_BENCH_HAVE_FORWARD_CUDA
void Case::capture_graphs() {
    if (!graphs.empty()) return;
    allocate();
    cudaStream_t st = device().stream;
    for (int i = 0; i < sets; i++) forward(i, Path::automatic);  // first-call costs outside the capture
    WTCONV_CUDA_CHECK(cudaStreamSynchronize(st));
    std::vector<cudaGraphExec_t> made;
    try {
        for (int i = 0; i < sets; i++) {
            WTCONV_CUDA_CHECK(cudaStreamBeginCapture(st, cudaStreamCaptureModeRelaxed));
            cudaGraph_t g = nullptr;
            try {
                forward(i, Path::automatic);
            } catch (...) {
                cudaStreamEndCapture(st, &g);
                if (g) cudaGraphDestroy(g);
                (void)cudaGetLastError();
                throw;
            }
            WTCONV_CUDA_CHECK(cudaStreamEndCapture(st, &g));
            cudaGraphExec_t e = nullptr;
            const cudaError_t inst = cudaGraphInstantiate(&e, g, 0);
            cudaGraphDestroy(g);
            WTCONV_CUDA_CHECK(inst);
            made.push_back(e);
        }
        // A replay must write what the eager call writes, bit for bit.
        const size_t bytes = shape.elements() * sizeof(float);
        std::vector<float> eager(shape.elements()), replay(shape.elements());
        WTCONV_CUDA_CHECK(cudaMemsetAsync(y[0], 0xFF, bytes, st));
        forward(0, Path::automatic);
        WTCONV_CUDA_CHECK(cudaMemcpyAsync(eager.data(), y[0], bytes, cudaMemcpyDeviceToHost, st));
        WTCONV_CUDA_CHECK(cudaMemsetAsync(y[0], 0xFF, bytes, st));
        WTCONV_CUDA_CHECK(cudaGraphLaunch(made[0], st));
        WTCONV_CUDA_CHECK(cudaMemcpyAsync(replay.data(), y[0], bytes, cudaMemcpyDeviceToHost, st));
        WTCONV_CUDA_CHECK(cudaStreamSynchronize(st));
        if (std::memcmp(eager.data(), replay.data(), bytes) != 0) {
            throw std::runtime_error("a CUDA-graph replay of forward_cuda writes other values than the eager call");
        }
    } catch (...) {
        for (cudaGraphExec_t e : made) cudaGraphExecDestroy(e);
        throw;
    }
    graphs = std::move(made);
}
#endif

std::map<std::string, std::unique_ptr<Case>> &cases() {
    static std::map<std::string, std::unique_ptr<Case>> c;
    return c;
}

Case &case_for(const Shape &s) {
    auto &c = cases()[s.name()];
    if (!c) {
        c.reset(new Case);
        c->shape = s;
        testing::Random rnd(uint64_t(s.C) * 1000 + s.H);
        c->spec = testing::random_layer({s.C, kKernel, s.levels, 1, "db1", true}, rnd);
        c->layer.emplace(c->spec.make_layer());
    }
    return *c;
}

double median(std::vector<double> v) {
    if (v.empty()) return NAN;
    std::sort(v.begin(), v.end());
    const size_t m = v.size() / 2;
    return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

// Times op(set) as described at the top; `key` names the row.
void time_rows(benchmark::State &state, const Shape &s, const std::string &key,
               const std::function<void(Case &, int)> &op, const std::function<std::string(Case &)> &label) {
    try {
        Case &c = case_for(s);
        c.allocate();
        Device &d = device();
        for (int i = 0; i < c.sets; i++) op(c, i);  // warm-up: first-call costs stay out
        WTCONV_CUDA_CHECK(cudaStreamSynchronize(d.stream));
        WTCONV_CUDA_CHECK(cudaGetLastError());
        const int calls = c.sets;
        std::vector<double> per_call_us;
        int next = 0;
        for (auto _ : state) {
            WTCONV_CUDA_CHECK(cudaEventRecord(d.start, d.stream));
            for (int j = 0; j < calls; j++) {
                op(c, next);
                next = (next + 1) % c.sets;
            }
            WTCONV_CUDA_CHECK(cudaEventRecord(d.stop, d.stream));
            WTCONV_CUDA_CHECK(cudaEventSynchronize(d.stop));
            float ms = 0;
            WTCONV_CUDA_CHECK(cudaEventElapsedTime(&ms, d.start, d.stop));
            state.SetIterationTime(double(ms) * 1e-3);
            per_call_us.push_back(double(ms) * 1e3 / calls);
        }
        WTCONV_CUDA_CHECK(cudaGetLastError());
        Row &r = rows()[key];
        r.median_us = median(per_call_us);
        r.min_us = *std::min_element(per_call_us.begin(), per_call_us.end());
        r.calls = calls;
        r.label = label(c);
        state.counters["us_median"] = r.median_us;
        state.counters["us_min"] = r.min_us;
        state.counters["GB/s"] = 2 * s.bytes() / (r.median_us * 1e3);  // ideal bytes: x once + y once
        state.counters["calls"] = calls;
        state.counters["sets"] = c.sets;
        state.counters["samples"] = double(per_call_us.size());
        state.SetLabel(r.label);
    } catch (const std::exception &e) {
        state.SkipWithError(e.what());
    }
}

// Kernel (and copy) nodes one call enqueues, counted by capturing it into
// a CUDA graph (relaxed mode) that is never launched: "k3" = 3 kernels,
// "k1+c1" = a kernel and a copy; "n/a: why" if the call cannot be captured
// (e.g. it synchronises). Run after all timing.
std::string count_launches(const std::function<void()> &op) {
    cudaStream_t st = device().stream;
    WTCONV_CUDA_CHECK(cudaStreamSynchronize(st));
    cudaError_t e = cudaStreamBeginCapture(st, cudaStreamCaptureModeRelaxed);
    if (e != cudaSuccess) return std::string("n/a: ") + cudaGetErrorName(e);
    std::string thrown;
    try {
        op();
    } catch (const std::exception &ex) {
        thrown = ex.what();
    }
    cudaGraph_t g = nullptr;
    e = cudaStreamEndCapture(st, &g);
    (void)cudaGetLastError();
    if (!thrown.empty() || e != cudaSuccess || !g) {
        if (g) cudaGraphDestroy(g);
        return "n/a: " + (thrown.empty() ? std::string(cudaGetErrorName(e)) : thrown.substr(0, 60));
    }
    size_t n = 0;
    std::string out;
    if (cudaGraphGetNodes(g, nullptr, &n) == cudaSuccess) {
        std::vector<cudaGraphNode_t> nodes(n);
        int kernels = 0, copies = 0, sets = 0, other = 0;
        if (n && cudaGraphGetNodes(g, nodes.data(), &n) != cudaSuccess) n = 0;
        for (size_t i = 0; i < n; i++) {
            cudaGraphNodeType t{};
            cudaGraphNodeGetType(nodes[i], &t);
            if (t == cudaGraphNodeTypeKernel) kernels++;
            else if (t == cudaGraphNodeTypeMemcpy) copies++;
            else if (t == cudaGraphNodeTypeMemset) sets++;
            else if (t != cudaGraphNodeTypeEmpty) other++;
        }
        out = "k" + std::to_string(kernels);
        if (copies) out += "+c" + std::to_string(copies);
        if (sets) out += "+s" + std::to_string(sets);
        if (other) out += "+o" + std::to_string(other);
    } else {
        out = "n/a";
    }
    cudaGraphDestroy(g);
    (void)cudaGetLastError();
    return out;
}

// max |gpu - cpu| / max |cpu| of the fused CUDA forward against the CPU
// forward on set 0 (y poisoned with NaN first: an unwritten element shows
// as nan). Empty if it cannot run.
std::string ours_error(Case &c) {
#ifdef WTCONV_BENCH_HAVE_FORWARD_CUDA
    try {
        const Shape &s = c.shape;
        const size_t bytes = s.elements() * sizeof(float);
        WTCONV_CUDA_CHECK(cudaMemsetAsync(c.y[0], 0xFF, bytes, device().stream));
        c.forward(0, Path::automatic);
        std::vector<float> gpu(s.elements()), cpu(s.elements());
        WTCONV_CUDA_CHECK(cudaMemcpyAsync(gpu.data(), c.y[0], bytes, cudaMemcpyDeviceToHost, device().stream));
        WTCONV_CUDA_CHECK(cudaStreamSynchronize(device().stream));
        c.layer->forward(ConstTensor::nchw(c.host_x.data(), s.N, s.C, s.H, s.W), Tensor::nchw(cpu.data(), s.N, s.C, s.H, s.W));
        double worst = 0, scale = 0;
        size_t bad = 0;
        for (size_t i = 0; i < cpu.size(); i++) {
            if (!std::isfinite(gpu[i])) bad++;
            worst = std::max(worst, double(std::fabs(gpu[i] - cpu[i])));
            scale = std::max(scale, double(std::fabs(cpu[i])));
        }
        char t[64];
        if (bad) std::snprintf(t, sizeof t, "%zu nan", bad);
        else std::snprintf(t, sizeof t, "%.1e", worst / std::max(scale, 1e-30));
        return t;
    } catch (const std::exception &e) {
        return std::string("failed: ") + e.what();
    }
#else
    (void)c;
    return "";
#endif
}

std::string fmt(double v, const char *f = "%.1f") {
    if (std::isnan(v)) return "-";
    char s[32];
    std::snprintf(s, sizeof s, f, v);
    return s;
}

double row_us(const Shape &s, const char *what) {
    auto it = rows().find(std::string(what) + "/" + s.name());
    return it == rows().end() ? NAN : it->second.median_us;
}

void print_table() {
    if (rows().empty()) return;
    const bool capture = !std::getenv("WTCONV_BENCH_NO_CAPTURE");
    std::printf("\n== wtconv_cuda_bench summary: %s; k = %d, Haar, fp32 NCHW; median us per call; GB/s on ideal bytes "
                "2S;\n   %%copy = GB/s over the copy's; 50%% = twice the copy's time (the goal); graph = ours replayed "
                "from CUDA graphs;\n   launches = kernels (k) and copies (c) per call, by stream capture; error = ours "
                "vs the CPU forward\n",
                device().prop.name, kKernel);
    std::printf("%-20s %7s %4s %8s %7s | %8s %7s %6s %8s %8s | %8s | %8s %8s %8s | %7s %7s | %8s | %s\n", "shape",
                "S MB", "sets", "copy", "copyGB/s", "ours", "GB/s", "%copy", "50%", "graph", "staged", "dw5", "dw5nhwc",
                "dw31", "o/dw5", "o/dw31", "launches", "error");
    for (const Shape &s : kShapes) {
        const double copy = row_us(s, "copy"), ours = row_us(s, "ours"), graph = row_us(s, "ours_graph"),
                     staged = row_us(s, "staged"),
                     dw5 = row_us(s, "cudnn_dw5"), dw5l = row_us(s, "cudnn_dw5_nhwc"), dw31 = row_us(s, "cudnn_dw31");
        if (std::isnan(copy) && std::isnan(ours) && std::isnan(staged) && std::isnan(dw5) && std::isnan(dw5l) &&
            std::isnan(dw31)) {
            continue;
        }
        const double ours_gbs = 2 * s.bytes() / (ours * 1e3), copy_gbs = 2 * s.bytes() / (copy * 1e3);
        Case &c = case_for(s);
        std::string launches = "-", error = "-";
#ifdef WTCONV_BENCH_HAVE_FORWARD_CUDA
        if (!std::isnan(ours)) {
            error = ours_error(c);
            if (capture) launches = count_launches([&] { c.forward(0, Path::automatic); });
        }
#endif
        std::printf("%-20s %7.1f %4d %8s %7s | %8s %7s %6s %8s %8s | %8s | %8s %8s %8s | %7s %7s | %8s | %s\n",
                    s.name().c_str(), s.bytes() / 1e6, c.sets, fmt(copy).c_str(), fmt(copy_gbs, "%.0f").c_str(),
                    fmt(ours).c_str(), fmt(ours_gbs, "%.0f").c_str(), fmt(100 * ours_gbs / copy_gbs).c_str(),
                    fmt(2 * copy).c_str(), fmt(graph).c_str(), fmt(staged).c_str(), fmt(dw5).c_str(), fmt(dw5l).c_str(),
                    fmt(dw31).c_str(), fmt(ours / dw5, "%.2f").c_str(), fmt(ours / dw31, "%.2f").c_str(),
                    launches.c_str(), error.c_str());
    }
    std::printf("\nlabels (what ran):\n");
    for (const auto &[key, r] : rows()) {
        std::string extra;
        if (capture && key.rfind("cudnn_dw", 0) == 0) {
            for (const Shape &s : kShapes) {
                if (key.size() > s.name().size() && key.compare(key.size() - s.name().size(), std::string::npos,
                                                                s.name()) == 0) {
                    Case &c = case_for(s);
                    const bool nhwc = key.rfind("cudnn_dw5_nhwc", 0) == 0;
                    const int k = key.rfind("cudnn_dw31", 0) == 0 ? kLargeKernel : kKernel;
                    extra = ", launches " + count_launches([&] { c.cudnn(k, nhwc).run(c.x[0], c.y[0]); });
                }
            }
        }
        std::printf("  %-32s %10.2f us (min %.2f, %d calls/sample)  %s%s\n", key.c_str(), r.median_us, r.min_us,
                    r.calls, r.label.c_str(), extra.c_str());
    }
}

}  // namespace

int run(int argc, char **argv);

int main(int argc, char **argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "wtconv_cuda_bench: %s\n", e.what());
        return 1;
    }
}

int run(int argc, char **argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

    // No usable GPU (no driver, no device): say why and succeed, so the
    // build machine and CI can run this binary.
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess || count == 0) {
        void *driver_lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
        std::printf("wtconv_cuda_bench: skipped: no usable CUDA device (%s%s)\n",
                    status != cudaSuccess ? cudaGetErrorString(status) : "the driver reports 0 devices",
                    driver_lib ? "" : "; no CUDA driver here: libcuda.so.1 does not load");
        if (driver_lib) dlclose(driver_lib);
        return 0;
    }
    Device &d = device();
    WTCONV_CUDA_CHECK(cudaSetDevice(0));
    WTCONV_CUDA_CHECK(cudaGetDeviceProperties(&d.prop, 0));
    WTCONV_CUDA_CHECK(cudaFree(nullptr));  // the primary context, which forward_cuda also uses by default
    WTCONV_CUDA_CHECK(cudaStreamCreateWithFlags(&d.stream, cudaStreamNonBlocking));
    WTCONV_CUDA_CHECK(cudaEventCreate(&d.start));
    WTCONV_CUDA_CHECK(cudaEventCreate(&d.stop));
    const char *l2_env = std::getenv("WTCONV_BENCH_L2_BYTES");
    d.l2_bytes = l2_env ? std::atof(l2_env) : double(d.prop.l2CacheSize);
    int driver = 0, runtime = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);

    std::string cudnn_why, cuda_why;
    const bool have_cudnn = cudnn_load(&cudnn_why);
    char date[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
    std::printf("GPU: %s, sm_%d%d, %d SMs, L2 %.1f MB (rotation sized for %.1f MB), %.1f GiB; driver %d.%d, runtime %d.%d "
                "(static); cuDNN %s; %s\n",
                d.prop.name, d.prop.major, d.prop.minor, d.prop.multiProcessorCount, d.prop.l2CacheSize / 1e6,
                d.l2_bytes / 1e6, double(d.prop.totalGlobalMem) / (1 << 30), driver / 1000, driver % 1000 / 10,
                runtime / 1000, runtime % 1000 / 10, have_cudnn ? cudnn_version().c_str() : "not loaded", date);
    benchmark::AddCustomContext("gpu", d.prop.name);
    benchmark::AddCustomContext("gpu_sms", std::to_string(d.prop.multiProcessorCount));
    benchmark::AddCustomContext("gpu_l2_bytes", std::to_string(d.prop.l2CacheSize));
    benchmark::AddCustomContext("cuda_driver", std::to_string(driver));
    benchmark::AddCustomContext("cuda_runtime", std::to_string(runtime));
    benchmark::AddCustomContext("cudnn", have_cudnn ? cudnn_version() : "not loaded: " + cudnn_why);
    benchmark::AddCustomContext("date_utc", date);

#ifdef WTCONV_BENCH_HAVE_FORWARD_CUDA
    const bool have_ours = cuda_available(&cuda_why);
#else
    const bool have_ours = false;
    cuda_why = "this libwtconv's API has no forward_cuda (built before the CUDA pipelines were merged)";
#endif
    if (!have_ours) std::printf("ours, staged: skipped: %s\n", cuda_why.c_str());
    if (!have_cudnn) std::printf("cuDNN rows: skipped: %s\n", cudnn_why.c_str());
    benchmark::AddCustomContext("wtconv_cuda", have_ours ? "available" : "skipped: " + cuda_why);

    auto add = [](const std::string &name, auto fn) {
        benchmark::RegisterBenchmark(name.c_str(), fn)->UseManualTime()->Unit(benchmark::kMicrosecond);
    };
    for (const Shape &s : kShapes) {
        const std::string n = s.name();
        add("copy/" + n, [s](benchmark::State &st) {
            time_rows(
                st, s, "copy/" + s.name(),
                [](Case &c, int i) {
                    WTCONV_CUDA_CHECK(cudaMemcpyAsync(c.y[size_t(i)], c.x[size_t(i)], c.shape.elements() * sizeof(float),
                                                      cudaMemcpyDeviceToDevice, device().stream));
                },
                [](Case &) { return std::string("cudaMemcpyAsync D2D"); });
        });
#ifdef WTCONV_BENCH_HAVE_FORWARD_CUDA
        if (have_ours) {
            auto variant_label = [](Case &c, Path p) {
                const Variant v = c.layer->variant_cuda(p);
                return std::string(to_string(v.path)) + "/" + to_string(v.layout) + "/L" + std::to_string(v.levels) +
                       "/" + v.isa;
            };
            add("ours/" + n, [s, variant_label](benchmark::State &st) {
                time_rows(
                    st, s, "ours/" + s.name(), [](Case &c, int i) { c.forward(i, Path::automatic); },
                    [variant_label](Case &c) { return variant_label(c, Path::automatic); });
            });
            try {
                case_for(s).layer->variant_cuda(Path::staged);
                add("staged/" + n, [s, variant_label](benchmark::State &st) {
                    time_rows(
                        st, s, "staged/" + s.name(), [](Case &c, int i) { c.forward(i, Path::staged); },
                        [variant_label](Case &c) { return variant_label(c, Path::staged); });
                });
            } catch (const std::exception &e) {
                std::printf("staged/%s: skipped: %s\n", n.c_str(), e.what());
            }
        }
#endif
        if (have_cudnn) {
            struct Conv {
                const char *row;
                int k;
                bool nhwc;
            };
            for (const Conv conv : {Conv{"cudnn_dw5", kKernel, false}, Conv{"cudnn_dw5_nhwc", kKernel, true},
                                    Conv{"cudnn_dw31", kLargeKernel, false}}) {
                add(std::string(conv.row) + "/" + n, [s, conv](benchmark::State &st) {
                    time_rows(
                        st, s, std::string(conv.row) + "/" + s.name(),
                        [conv](Case &c, int i) { c.cudnn(conv.k, conv.nhwc).run(c.x[size_t(i)], c.y[size_t(i)]); },
                        [conv](Case &c) { return c.cudnn(conv.k, conv.nhwc).name(); });
                });
            }
        }
#ifdef WTCONV_BENCH_HAVE_FORWARD_CUDA
        // Our forward replayed from CUDA graphs: device time without the
        // host's per-call work (last, as the capture is the riskiest step).
        if (have_ours) {
            add("ours_graph/" + n, [s](benchmark::State &st) {
                try {
                    case_for(s).capture_graphs();
                } catch (const std::exception &e) {
                    st.SkipWithError((std::string("no graph replay: ") + e.what()).c_str());
                    return;
                }
                time_rows(
                    st, s, "ours_graph/" + s.name(),
                    [](Case &c, int i) { WTCONV_CUDA_CHECK(cudaGraphLaunch(c.graphs[size_t(i)], device().stream)); },
                    [](Case &c) { return "CUDA graph replay of " + c.layer->variant_cuda(Path::automatic).isa; });
            });
        }
#endif
    }
    std::fflush(stdout);
    benchmark::RunSpecifiedBenchmarks();
    print_table();
    cases().clear();
    return 0;
}
