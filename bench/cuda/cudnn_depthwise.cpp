#include "cudnn_depthwise.h"

#include "cuda_check.h"

#include <cudnn.h>
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <stdexcept>
#include <vector>

namespace wtconv::bench {
namespace {

// The cuDNN functions used here, resolved from libcudnn.so.9 at run time.
// Their types come from cudnn.h, so a changed signature fails to compile.
#define WTCONV_CUDNN_FUNCTIONS(X)                                                                           \
    X(cudnnGetVersion)                                                                                     \
    X(cudnnGetErrorString)                                                                                 \
    X(cudnnCreate)                                                                                         \
    X(cudnnDestroy)                                                                                        \
    X(cudnnSetStream)                                                                                      \
    X(cudnnCreateTensorDescriptor)                                                                         \
    X(cudnnDestroyTensorDescriptor)                                                                        \
    X(cudnnSetTensor4dDescriptor)                                                                          \
    X(cudnnCreateFilterDescriptor)                                                                         \
    X(cudnnDestroyFilterDescriptor)                                                                        \
    X(cudnnSetFilter4dDescriptor)                                                                          \
    X(cudnnCreateConvolutionDescriptor)                                                                    \
    X(cudnnDestroyConvolutionDescriptor)                                                                   \
    X(cudnnSetConvolution2dDescriptor)                                                                     \
    X(cudnnSetConvolutionGroupCount)                                                                       \
    X(cudnnSetConvolutionMathType)                                                                         \
    X(cudnnGetConvolution2dForwardOutputDim)                                                               \
    X(cudnnGetConvolutionForwardAlgorithmMaxCount)                                                         \
    X(cudnnFindConvolutionForwardAlgorithmEx)                                                              \
    X(cudnnGetConvolutionForwardWorkspaceSize)                                                             \
    X(cudnnConvolutionForward)

struct Api {
#define WTCONV_DECLARE(f) decltype(&::f) f = nullptr;
    WTCONV_CUDNN_FUNCTIONS(WTCONV_DECLARE)
#undef WTCONV_DECLARE
    std::string library, version, error;
    bool ok = false;
};

const Api &api() {
    static Api a;
    static std::once_flag once;
    std::call_once(once, [] {
        const char *env = std::getenv("WTCONV_CUDNN_LIBRARY");
        a.library = env && *env ? env : "libcudnn.so.9";
        void *h = dlopen(a.library.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            const char *e = dlerror();
            a.error = "cannot open " + a.library + " (" + (e ? e : "?") +
                      "); put cuDNN 9 on LD_LIBRARY_PATH or set WTCONV_CUDNN_LIBRARY";
            return;
        }
#define WTCONV_RESOLVE(f)                                                                 \
    a.f = reinterpret_cast<decltype(a.f)>(dlsym(h, #f));                                  \
    if (!a.f) {                                                                           \
        a.error = a.library + " lacks " #f " (the legacy convolution API of cuDNN 9)"; \
        return;                                                                           \
    }
        WTCONV_CUDNN_FUNCTIONS(WTCONV_RESOLVE)
#undef WTCONV_RESOLVE
        const size_t v = a.cudnnGetVersion();  // 9.19.0 -> 91900
        if (v < 90000) {
            a.error = a.library + " is cuDNN " + std::to_string(v) + ", older than 9.0";
            return;
        }
        a.version = std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100) +
                    " (" + a.library + ")";
        a.ok = true;
    });
    return a;
}

void check(cudnnStatus_t status, const char *what, int line) {
    if (status != CUDNN_STATUS_SUCCESS) {
        throw std::runtime_error(std::string(what) + " failed (cudnn_depthwise.cpp:" + std::to_string(line) +
                                 "): " + api().cudnnGetErrorString(status));
    }
}
#define WTCONV_CUDNN(call) check(api().call, #call, __LINE__)

const char *algo_name(cudnnConvolutionFwdAlgo_t algo) {
    switch (algo) {
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM: return "IMPLICIT_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM: return "IMPLICIT_PRECOMP_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM: return "GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT: return "DIRECT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT: return "FFT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING: return "FFT_TILING";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD: return "WINOGRAD";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED: return "WINOGRAD_NONFUSED";
    default: return "ALGO?";
    }
}

const char *math_name(cudnnMathType_t math) {
    switch (math) {
    case CUDNN_DEFAULT_MATH: return "DEFAULT";
    case CUDNN_TENSOR_OP_MATH: return "TENSOR_OP";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: return "TENSOR_OP_CONV";
    case CUDNN_FMA_MATH: return "FMA";
    default: return "MATH?";
    }
}

std::string bytes_string(size_t b) {
    char s[32];
    if (b >= (size_t(1) << 20)) std::snprintf(s, sizeof s, "%.1fMiB", double(b) / (1 << 20));
    else std::snprintf(s, sizeof s, "%zuB", b);
    return s;
}

}  // namespace

bool cudnn_load(std::string *why) {
    const Api &a = api();
    if (!a.ok && why) *why = a.error;
    return a.ok;
}

std::string cudnn_version() { return api().ok ? api().version : std::string(); }

struct CudnnDepthwise::Impl {
    cudaStream_t stream = nullptr;
    cudnnHandle_t handle = nullptr;
    cudnnTensorDescriptor_t xd = nullptr, yd = nullptr;
    cudnnFilterDescriptor_t wd = nullptr;
    cudnnConvolutionDescriptor_t cd = nullptr;
    cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
    float *weight = nullptr;
    void *workspace = nullptr;
    size_t workspace_bytes = 0;
    std::string name, find_log;
    double find_seconds = 0;

    ~Impl() {
        // Teardown never throws; errors here are ignored.
        if (workspace) cudaFree(workspace);
        if (weight) cudaFree(weight);
        const Api &a = api();
        if (!a.ok) return;
        if (cd) a.cudnnDestroyConvolutionDescriptor(cd);
        if (wd) a.cudnnDestroyFilterDescriptor(wd);
        if (yd) a.cudnnDestroyTensorDescriptor(yd);
        if (xd) a.cudnnDestroyTensorDescriptor(xd);
        if (handle) a.cudnnDestroy(handle);
    }
};

CudnnDepthwise::CudnnDepthwise(cudaStream_t stream, const CudnnOptions &o, const float *x, float *y)
    : impl_(new Impl) {
    std::string why;
    if (!cudnn_load(&why)) throw std::runtime_error(why);
    Impl &m = *impl_;
    m.stream = stream;
    WTCONV_CUDNN(cudnnCreate(&m.handle));
    WTCONV_CUDNN(cudnnSetStream(m.handle, stream));
    const cudnnTensorFormat_t format = o.nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    WTCONV_CUDNN(cudnnCreateTensorDescriptor(&m.xd));
    WTCONV_CUDNN(cudnnCreateTensorDescriptor(&m.yd));
    WTCONV_CUDNN(cudnnCreateFilterDescriptor(&m.wd));
    WTCONV_CUDNN(cudnnCreateConvolutionDescriptor(&m.cd));
    WTCONV_CUDNN(cudnnSetTensor4dDescriptor(m.xd, format, CUDNN_DATA_FLOAT, o.n, o.c, o.h, o.w));
    // [C_out, C_in / groups, k, k] = [C, 1, k, k]
    WTCONV_CUDNN(cudnnSetFilter4dDescriptor(m.wd, CUDNN_DATA_FLOAT, format, o.c, 1, o.k, o.k));
    WTCONV_CUDNN(cudnnSetConvolution2dDescriptor(m.cd, o.k / 2, o.k / 2, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION,
                                                 CUDNN_DATA_FLOAT));
    WTCONV_CUDNN(cudnnSetConvolutionGroupCount(m.cd, o.c));
    WTCONV_CUDNN(cudnnSetConvolutionMathType(m.cd, CUDNN_FMA_MATH));
    int n = 0, c = 0, h = 0, w = 0;
    WTCONV_CUDNN(cudnnGetConvolution2dForwardOutputDim(m.cd, m.xd, m.wd, &n, &c, &h, &w));
    if (n != o.n || c != o.c || h != o.h || w != o.w) {
        throw std::runtime_error("cuDNN depthwise: output " + std::to_string(n) + "x" + std::to_string(c) + "x" +
                                 std::to_string(h) + "x" + std::to_string(w) + ", expected the input's shape");
    }
    WTCONV_CUDNN(cudnnSetTensor4dDescriptor(m.yd, format, CUDNN_DATA_FLOAT, n, c, h, w));

    // Random filter (never zeros: zeros can run faster than real data).
    std::vector<float> host(size_t(o.c) * o.k * o.k);
    std::mt19937 rng(1234u + unsigned(o.k));
    std::uniform_real_distribution<float> dist(0.25f, 1.25f);
    for (float &v : host) v = (rng() & 1) ? dist(rng) : -dist(rng);
    m.weight = device_alloc<float>(host.size());
    WTCONV_CUDA_CHECK(cudaMemcpy(m.weight, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice));
    WTCONV_CUDA_CHECK(cudaDeviceSynchronize());  // the legacy stream does not order with `stream`

    // cudnnFind (timed by cuDNN itself, fastest first) with a capped workspace.
    void *find_ws = nullptr;
    size_t find_ws_bytes = o.workspace_cap;
    while (find_ws_bytes > 0 && cudaMalloc(&find_ws, find_ws_bytes) != cudaSuccess) {
        (void)cudaGetLastError();
        find_ws_bytes /= 2;  // take what the card has
    }
    int max_count = 0, got = 0;
    WTCONV_CUDNN(cudnnGetConvolutionForwardAlgorithmMaxCount(m.handle, &max_count));
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(size_t(std::max(max_count, 1)));
    const auto t0 = std::chrono::steady_clock::now();
    const cudnnStatus_t found = api().cudnnFindConvolutionForwardAlgorithmEx(
        m.handle, m.xd, x, m.wd, m.weight, m.cd, m.yd, y, int(perf.size()), &got, perf.data(), find_ws, find_ws_bytes);
    const cudaError_t synced = cudaStreamSynchronize(stream);
    m.find_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (find_ws) cudaFree(find_ws);
    check(found, "cudnnFindConvolutionForwardAlgorithmEx", __LINE__);
    WTCONV_CUDA_CHECK(synced);

    // The fastest that succeeded in FMA math; DEFAULT math only if no FMA one
    // did (named in the label, since it may use TF32).
    const cudnnConvolutionFwdAlgoPerf_t *best = nullptr, *fallback = nullptr;
    for (int i = 0; i < got; i++) {
        const auto &p = perf[size_t(i)];
        char entry[160];
        std::snprintf(entry, sizeof entry, "%s%s(%d) %s %s %.4fms ws=%s", i ? "; " : "", algo_name(p.algo),
                      int(p.algo), math_name(p.mathType), p.status == CUDNN_STATUS_SUCCESS ? "ok" : "failed",
                      double(p.time), bytes_string(p.memory).c_str());
        m.find_log += entry;
        if (p.status != CUDNN_STATUS_SUCCESS) continue;
        if (p.mathType == CUDNN_FMA_MATH && !best) best = &p;
        if (p.mathType == CUDNN_DEFAULT_MATH && !fallback) fallback = &p;
    }
    const bool strict = best != nullptr;
    if (!best) best = fallback;
    if (!best) throw std::runtime_error("cudnnFind: no algorithm succeeded in FMA or DEFAULT math: " + m.find_log);
    m.algo = best->algo;
    WTCONV_CUDNN(cudnnSetConvolutionMathType(m.cd, best->mathType));
    WTCONV_CUDNN(cudnnGetConvolutionForwardWorkspaceSize(m.handle, m.xd, m.wd, m.cd, m.yd, m.algo, &m.workspace_bytes));
    if (m.workspace_bytes) WTCONV_CUDA_CHECK(cudaMalloc(&m.workspace, m.workspace_bytes));
    m.name = std::string(algo_name(m.algo)) + "(" + std::to_string(int(m.algo)) + ") " + math_name(best->mathType) +
             (strict ? "" : " (no FMA algo; TF32 possible)") + " ws=" + bytes_string(m.workspace_bytes);
}

CudnnDepthwise::~CudnnDepthwise() = default;

void CudnnDepthwise::run(const float *x, float *y) const {
    const Impl &m = *impl_;
    const float one = 1.0f, zero = 0.0f;
    WTCONV_CUDNN(cudnnConvolutionForward(m.handle, &one, m.xd, x, m.wd, m.weight, m.cd, m.algo, m.workspace,
                                         m.workspace_bytes, &zero, m.yd, y));
}

const std::string &CudnnDepthwise::name() const { return impl_->name; }
const std::string &CudnnDepthwise::find_log() const { return impl_->find_log; }
double CudnnDepthwise::find_seconds() const { return impl_->find_seconds; }

}  // namespace wtconv::bench
