// Layer::forward_cuda against the CPU path and the double-precision
// reference. Built everywhere: the CUDA driver is dlopen'ed here as in the
// library (no toolkit, no libcuda needed to build or start). Without a
// usable GPU the GPU tests SKIP with the reason, and the no-GPU test checks
// that forward_cuda fails with a clear wtconv::Error.
#include "check_reference.h"
#include "cuda.h"

#include <dlfcn.h>

#include <cstring>

namespace wtconv::testing {
namespace {

// ---- The few driver calls the tests need. ----
using CUresult = int;
using CUcontext = void *;
using CUstream = void *;
using CUdeviceptr = unsigned long long;

struct TestDriver {
    CUresult (*cuInit)(unsigned) = nullptr;
    CUresult (*cuDeviceGet)(int *, int) = nullptr;
    CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, int) = nullptr;
    CUresult (*cuCtxPushCurrent)(CUcontext) = nullptr;
    CUresult (*cuCtxPopCurrent)(CUcontext *) = nullptr;
    CUresult (*cuCtxSynchronize)() = nullptr;
    CUresult (*cuMemAlloc)(CUdeviceptr *, size_t) = nullptr;
    CUresult (*cuMemFree)(CUdeviceptr) = nullptr;
    CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t) = nullptr;
    CUresult (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t) = nullptr;
    CUresult (*cuMemsetD32)(CUdeviceptr, unsigned, size_t) = nullptr;
    CUresult (*cuMemGetInfo)(size_t *, size_t *) = nullptr;
    CUresult (*cuStreamCreate)(CUstream *, unsigned) = nullptr;
    CUresult (*cuStreamSynchronize)(CUstream) = nullptr;
    CUresult (*cuStreamDestroy)(CUstream) = nullptr;
    CUcontext primary = nullptr;
};

template<typename F>
void sym(void *lib, F &f, const char *name) {
    f = reinterpret_cast<F>(dlsym(lib, name));
    if (!f) throw std::runtime_error(std::string("libcuda.so.1 lacks ") + name);
}

// Loaded only after cuda_available() said yes.
const TestDriver &driver() {
    static const TestDriver d = [] {
        TestDriver d;
        void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
        if (!lib) throw std::runtime_error("libcuda.so.1 does not load");
        sym(lib, d.cuInit, "cuInit");
        sym(lib, d.cuDeviceGet, "cuDeviceGet");
        sym(lib, d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
        sym(lib, d.cuCtxPushCurrent, "cuCtxPushCurrent_v2");
        sym(lib, d.cuCtxPopCurrent, "cuCtxPopCurrent_v2");
        sym(lib, d.cuCtxSynchronize, "cuCtxSynchronize");
        sym(lib, d.cuMemAlloc, "cuMemAlloc_v2");
        sym(lib, d.cuMemFree, "cuMemFree_v2");
        sym(lib, d.cuMemcpyHtoD, "cuMemcpyHtoD_v2");
        sym(lib, d.cuMemcpyDtoH, "cuMemcpyDtoH_v2");
        sym(lib, d.cuMemsetD32, "cuMemsetD32_v2");
        sym(lib, d.cuMemGetInfo, "cuMemGetInfo_v2");
        sym(lib, d.cuStreamCreate, "cuStreamCreate");
        sym(lib, d.cuStreamSynchronize, "cuStreamSynchronize");
        sym(lib, d.cuStreamDestroy, "cuStreamDestroy_v2");
        d.cuInit(0);
        int dev = 0;
        if (d.cuDeviceGet(&dev, 0) != 0 || d.cuDevicePrimaryCtxRetain(&d.primary, dev) != 0) {
            throw std::runtime_error("no primary context on device 0");
        }
        // The tests' own calls run in the primary context, as a cudart user's would.
        d.cuCtxPushCurrent(d.primary);
        return d;
    }();
    return d;
}

#define CU_OK(call) ASSERT_EQ((call), 0) << #call

// GPU tests start with this: skip, saying why, where CUDA cannot run.
#define REQUIRE_CUDA()                                                    \
    do {                                                                  \
        std::string why_;                                                 \
        if (!cuda_available(&why_)) GTEST_SKIP() << "no CUDA here: " << why_; \
        (void)driver();                                                   \
    } while (0)

// A device allocation of `count` floats (freed at scope exit).
struct DeviceFloats {
    CUdeviceptr ptr = 0;
    size_t count = 0;
    explicit DeviceFloats(size_t n) : count(n) {
        if (driver().cuMemAlloc(&ptr, std::max<size_t>(n, 1) * sizeof(float)) != 0) {
            throw std::runtime_error("cuMemAlloc failed");
        }
    }
    ~DeviceFloats() { driver().cuMemFree(ptr); }
    float *data() const { return reinterpret_cast<float *>(ptr); }
    void upload(const std::vector<float> &v, size_t offset = 0) const {
        driver().cuMemcpyHtoD(ptr + offset * sizeof(float), v.data(), v.size() * sizeof(float));
    }
    std::vector<float> download() const {
        std::vector<float> v(count);
        driver().cuMemcpyDtoH(v.data(), ptr, count * sizeof(float));
        return v;
    }
    void fill_nan() const { driver().cuMemsetD32(ptr, 0x7fc00000u, count); }
};

// forward_cuda of a contiguous NCHW input (all on the default stream),
// compared with the CPU forward (same float32 algorithm, different order of
// sums: a few ulps) and with the double reference.
void expect_cuda_matches(const RandomLayer &spec, int N, int H, int W, Path path, Random &rnd,
                         const CudaExecution &exec = {}) {
    SCOPED_TRACE("N=" + std::to_string(N) + " H=" + std::to_string(H) + " W=" + std::to_string(W) + " path=" +
                 to_string(path));
    Layer layer = spec.make_layer();
    const int C = spec.channels;
    const std::vector<float> x = rnd.nonzero_vector(size_t(N) * C * H * W);
    const auto out = layer.output_shape({N, C, H, W});
    const size_t y_count = size_t(out[0] * out[1] * out[2] * out[3]);
    std::vector<float> y_cpu(y_count);
    layer.forward(ConstTensor::nchw(x.data(), N, C, H, W), Tensor::nchw(y_cpu.data(), out[0], out[1], out[2], out[3]),
                  path);

    DeviceFloats dx(x.size()), dy(y_count);
    dx.upload(x);
    dy.fill_nan();
    layer.forward_cuda(ConstTensor::nchw(dx.data(), N, C, H, W), Tensor::nchw(dy.data(), out[0], out[1], out[2], out[3]),
                       exec, path);
    if (exec.stream) {
        ASSERT_EQ(driver().cuStreamSynchronize(exec.stream), 0);
    } else {
        ASSERT_EQ(driver().cuCtxSynchronize(), 0);
    }
    const std::vector<float> y = dy.download();
    EXPECT_TRUE(matches_reference(y, reference_forward(spec, x, N, H, W), reference_forward(spec, x, N, H, W, true)));
    size_t worst = 0;
    double worst_err = 0;
    for (size_t i = 0; i < y.size(); i++) {
        const double err = std::fabs(double(y[i]) - y_cpu[i]) / (1e-3 + std::fabs(y_cpu[i]));
        if (!(err <= worst_err)) worst_err = err, worst = i;
    }
    EXPECT_LE(worst_err, 1e-4) << "element " << worst << ": CUDA " << y[worst] << ", CPU " << y_cpu[worst];
}

// ---- Runs everywhere. ----

TEST(CudaNoGpu, ForwardCudaThrowsAClearError) {
    std::string why;
    if (cuda_available(&why)) GTEST_SKIP() << "a CUDA device is available: this test is for machines without one";
    std::cout << "[wtconv] cuda_available() is false: " << why << "\n";
    EXPECT_FALSE(why.empty());
    Random rnd(40);
    Layer layer = random_layer(LayerSpec{2, 5, 2, 1, "db1", true}, rnd).make_layer();
    std::vector<float> x(2 * 9 * 9, 1.0f), y(x.size());
    try {
        layer.forward_cuda(ConstTensor::nchw(x.data(), 1, 2, 9, 9), Tensor::nchw(y.data(), 1, 2, 9, 9));
        FAIL() << "forward_cuda ran without a GPU";
    } catch (const Error &e) {
        EXPECT_NE(std::string(e.what()).find("CUDA is not available"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
    // The CPU path still runs in the same process.
    layer.forward(ConstTensor::nchw(x.data(), 1, 2, 9, 9), Tensor::nchw(y.data(), 1, 2, 9, 9));
    EXPECT_TRUE(std::isfinite(y[40]));
}

TEST(CudaApi, VariantsAndArgumentChecks) {
    std::string why;
    if (!cuda_available(&why) && why.find("built without") != std::string::npos) GTEST_SKIP() << why;
    Random rnd(41);
    Layer haar = random_layer(LayerSpec{2, 5, 3, 1, "db1", true}, rnd).make_layer();
    const Variant v = haar.variant_cuda();
    EXPECT_EQ(v.path, Path::fused_haar);
    EXPECT_EQ(v.layout, Layout::nchw);
    EXPECT_EQ(v.levels, 3);
    EXPECT_EQ(v.isa, "cuda_sm80");
    // Narrowed builds (tools/test_autoscheduled.sh) compile fewer general levels.
    const int general_max = detail::max_cuda_levels(false);
    if (general_max >= 3) {
        EXPECT_EQ(haar.variant_cuda(Path::fused_general).path, Path::fused_general);
    } else {
        EXPECT_THROW(haar.variant_cuda(Path::fused_general), Error);
    }
    EXPECT_THROW(haar.variant_cuda(Path::staged), Error);

    Layer sym = random_layer(LayerSpec{2, 3, 8, 1, "sym4", false}, rnd).make_layer();
    if (general_max >= 8) {
        EXPECT_EQ(sym.variant_cuda().path, Path::fused_general);
    } else {
        EXPECT_THROW(sym.variant_cuda(), Error);
    }
    EXPECT_THROW(sym.variant_cuda(Path::fused_haar), Error);
    Layer deep = random_layer(LayerSpec{1, 3, 9, 1, "db1", true}, rnd).make_layer();
    EXPECT_THROW(deep.variant_cuda(), Error);  // 9 levels: staged, CPU only

    // Argument errors come first, before any device work (and so show here too).
    std::vector<float> x(2 * 8 * 8), y(2 * 8 * 8);
    const ConstTensor strided{x.data(), {1, 2, 4, 4}, {64, 32, 8, 2}};  // width stride 2
    try {
        haar.forward_cuda(strided, Tensor::nchw(y.data(), 1, 2, 4, 4));
        FAIL() << "a width stride of 2 was accepted";
    } catch (const Error &e) {
        EXPECT_NE(std::string(e.what()).find("width stride must be 1"), std::string::npos) << e.what();
    }
    EXPECT_THROW(haar.forward_cuda(ConstTensor::nchw(x.data(), 1, 2, 8, 8), Tensor::nchw(y.data(), 1, 2, 7, 8)),
                 Error);
}

// ---- GPU only. ----

TEST(Cuda, HaarFastPathEveryLevelAndKernelBothPlans) {
    REQUIRE_CUDA();
    Random rnd(42);
    for (int levels = 1; levels <= 5; levels++) {
        for (int k : {3, 5, 7}) {
            LayerSpec spec{rnd.uniform(1, 4), k, levels, 1, "db1", true};
            SCOPED_TRACE(describe(spec));
            RandomLayer layer = random_layer(spec, rnd);
            ASSERT_EQ(layer.make_layer().variant_cuda().path, Path::fused_haar);
            expect_cuda_matches(layer, rnd.uniform(1, 2), rnd.uniform(1, 56), rnd.uniform(1, 56), Path::automatic, rnd);
            expect_cuda_matches(layer, 1, rnd.uniform(57, 90), rnd.uniform(20, 90), Path::automatic, rnd);  // tiled
        }
    }
}

TEST(Cuda, WTConvNeXtShapes) {
    REQUIRE_CUDA();
    Random rnd(43);
    for (auto [size, levels] : {std::pair{56, 5}, {28, 4}, {14, 3}, {7, 2}}) {
        LayerSpec spec{19, 5, levels, 1, "db1", true};
        SCOPED_TRACE(describe(spec));
        expect_cuda_matches(random_layer(spec, rnd), 2, size, size, Path::automatic, rnd);
    }
}

TEST(Cuda, RandomConfigurationsBothPaths) {
    REQUIRE_CUDA();
    Random rnd(44);
    for (int trial = 0; trial < 40; trial++) {
        const LayerSpec spec = random_spec(rnd);
        SCOPED_TRACE("trial " + std::to_string(trial) + ": " + describe(spec));
        RandomLayer layer = random_layer(spec, rnd);
        const int N = rnd.uniform(1, 2);
        const bool big = trial % 4 == 3;  // every fourth: the tiled plan
        const int H = big ? rnd.uniform(57, 80) : rnd.uniform(1, 37), W = big ? rnd.uniform(57, 80) : rnd.uniform(1, 37);
        expect_cuda_matches(layer, N, H, W, Path::automatic, rnd);
        expect_cuda_matches(layer, N, H, W, Path::fused_general, rnd);
    }
}

TEST(Cuda, TinyPrimeAndLargePlanes) {
    REQUIRE_CUDA();
    Random rnd(45);
    for (auto [h, w] : {std::pair{1, 1}, {1, 2}, {2, 1}, {1, 7}, {7, 1}, {3, 3}, {13, 17}, {31, 2}, {56, 56},
                        {56, 57}, {57, 56}, {130, 67}}) {
        for (const char *wavelet : {"db1", "db4"}) {
            LayerSpec spec{3, rnd.uniform(1, 7), rnd.uniform(1, 6), rnd.uniform(1, 3), wavelet, true};
            SCOPED_TRACE(describe(spec));
            expect_cuda_matches(random_layer(spec, rnd), 2, h, w, Path::automatic, rnd);
        }
    }
    // Even and large kernels, long filters.
    for (int k : {2, 4, 9, 13}) {
        LayerSpec spec{2, k, 3, 1, rnd.pick(std::vector<std::string>{"db1", "coif3", "custom:8"}), true};
        SCOPED_TRACE(describe(spec));
        expect_cuda_matches(random_layer(spec, rnd), 1, rnd.uniform(20, 56), rnd.uniform(20, 56), Path::automatic, rnd);
        expect_cuda_matches(random_layer(spec, rnd), 1, 70, 61, Path::automatic, rnd);
    }
}

TEST(Cuda, ViewsAtOffsetsInsideLargerAllocations) {
    REQUIRE_CUDA();
    Random rnd(46);
    for (int H : {13, 40, 75}) {
        LayerSpec spec{3, 5, 3, rnd.uniform(1, 2), rnd.pick(std::vector<std::string>{"db1", "sym3"}), true};
        SCOPED_TRACE(describe(spec) + " H=" + std::to_string(H));
        RandomLayer rl = random_layer(spec, rnd);
        Layer layer = rl.make_layer();
        const int N = 2, C = 3, W = H + 3;
        const std::vector<float> x = rnd.nonzero_vector(size_t(N) * C * H * W);
        const auto out = layer.output_shape({N, C, H, W});
        // x: rows padded to W + 5, planes to (H + 2) rows, 17 floats in.
        const int64_t xrow = W + 5, xplane = xrow * (H + 2), ximage = xplane * C + 3, xoff = 17;
        std::vector<float> xbig(size_t(xoff + ximage * N), 1e30f);
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
                for (int i = 0; i < H; i++)
                    for (int j = 0; j < W; j++)
                        xbig[size_t(xoff + n * ximage + c * xplane + i * xrow + j)] = x[((size_t(n) * C + c) * H + i) * W + j];
        const int64_t Ho = out[2], Wo = out[3];
        const int64_t yrow = Wo + 7, yplane = yrow * (Ho + 1), yimage = yplane * C, yoff = 5;
        DeviceFloats dx(xbig.size()), dy(size_t(yoff + yimage * N));
        dx.upload(xbig);
        dy.fill_nan();
        const ConstTensor X{dx.data() + xoff, {N, C, H, W}, {ximage, xplane, xrow, 1}};
        const Tensor Y{dy.data() + yoff, {N, C, Ho, Wo}, {yimage, yplane, yrow, 1}};
        layer.forward_cuda(X, Y);
        CU_OK(driver().cuCtxSynchronize());
        const std::vector<float> ybig = dy.download();
        std::vector<float> y(size_t(N * C * Ho * Wo));
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
                for (int i = 0; i < Ho; i++)
                    for (int j = 0; j < Wo; j++) {
                        y[((size_t(n) * C + c) * Ho + i) * Wo + j] = ybig[size_t(yoff + n * yimage + c * yplane + i * yrow + j)];
                    }
        EXPECT_TRUE(matches_reference(y, reference_forward(rl, x, N, H, W), reference_forward(rl, x, N, H, W, true)));
        // Nothing outside the view was written.
        size_t untouched = 0;
        for (float f : ybig) untouched += std::isnan(f);
        EXPECT_EQ(untouched, ybig.size() - y.size());
    }
}

TEST(Cuda, SeveralLayersStreamsAndTheCallersContext) {
    REQUIRE_CUDA();
    Random rnd(47);
    CUstream s1 = nullptr, s2 = nullptr;
    CU_OK(driver().cuStreamCreate(&s1, 0));
    CU_OK(driver().cuStreamCreate(&s2, 1));  // non-blocking
    const RandomLayer a = random_layer(LayerSpec{4, 5, 4, 1, "db1", true}, rnd);
    const RandomLayer b = random_layer(LayerSpec{3, 3, 2, 2, "db2", false}, rnd);
    for (int round = 0; round < 2; round++) {
        expect_cuda_matches(a, 2, 28, 28, Path::automatic, rnd, CudaExecution{nullptr, s1});
        expect_cuda_matches(b, 1, 64, 40, Path::automatic, rnd, CudaExecution{nullptr, s2});
        expect_cuda_matches(a, 1, 30, 17, Path::automatic, rnd, CudaExecution{driver().primary, s2});
        expect_cuda_matches(b, 2, 9, 9, Path::automatic, rnd, CudaExecution{driver().primary, nullptr});
    }
    CU_OK(driver().cuStreamDestroy(s1));
    CU_OK(driver().cuStreamDestroy(s2));
    // A device that does not exist is an error, not a crash.
    Layer layer = a.make_layer();
    std::vector<float> dummy(4 * 4 * 4);
    DeviceFloats dx(4 * 4 * 4 * 4), dy(4 * 4 * 4 * 4);
    EXPECT_THROW(layer.forward_cuda(ConstTensor::nchw(dx.data(), 1, 4, 4, 4), Tensor::nchw(dy.data(), 1, 4, 4, 4),
                                    CudaExecution{nullptr, nullptr, 1000}),
                 Error);
}

TEST(Cuda, ManyForwardsDoNotLeakDeviceMemory) {
    REQUIRE_CUDA();
    Random rnd(48);
    const RandomLayer rl = random_layer(LayerSpec{8, 5, 3, 1, "db1", true}, rnd);
    const RandomLayer rg = random_layer(LayerSpec{8, 5, 3, 1, "sym2", true}, rnd);
    const int N = 2, C = 8;
    auto run = [&](const Layer &layer, int H, int W, int times) {
        DeviceFloats dx(size_t(N) * C * H * W), dy(size_t(N) * C * H * W);
        dx.upload(rnd.nonzero_vector(dx.count));
        for (int i = 0; i < times; i++) {
            layer.forward_cuda(ConstTensor::nchw(dx.data(), N, C, H, W), Tensor::nchw(dy.data(), N, C, H, W));
        }
        driver().cuCtxSynchronize();
    };
    {
        Layer haar = rl.make_layer(), general = rg.make_layer();
        // Warm up: module load, weight upload, the tiled plan's cached intermediates.
        run(haar, 40, 40, 2);
        run(haar, 100, 90, 2);
        run(general, 100, 90, 2);
        size_t free_before = 0, free_after = 0, total = 0;
        CU_OK(driver().cuMemGetInfo(&free_before, &total));
        run(haar, 40, 40, 300);
        run(haar, 100, 90, 300);
        run(general, 100, 90, 300);
        CU_OK(driver().cuMemGetInfo(&free_after, &total));
        EXPECT_LE(free_before - std::min(free_before, free_after), size_t(4) << 20)
            << "free device memory went from " << free_before << " to " << free_after << " bytes";
    }
    // Layers gone: their weights are freed (a fresh layer's first call uploads again and works).
    Layer again = rl.make_layer();
    run(again, 40, 40, 1);
}

}  // namespace
}  // namespace wtconv::testing
