#include "cuda.h"

#include "pipelines.h"

#include <algorithm>
#include <vector>

#if WTCONV_CUDA

#include "HalideRuntime.h"
#include "HalideRuntimeCuda.h"

#include <dlfcn.h>

// The CUDA variants, declared from the generated table (CMake names them).
// With the user_context feature each takes the call's context first.
#define WTCONV_CUDA_VARIANT(haar, plane, levels, fn)                                                 \
    extern "C" int fn(void const *, halide_buffer_t *, halide_buffer_t *, halide_buffer_t *,       \
                      halide_buffer_t *, halide_buffer_t *, halide_buffer_t *, int32_t, halide_buffer_t *);
#include "wtconv_cuda_variants.inc"
#undef WTCONV_CUDA_VARIANT

namespace wtconv::detail {
namespace {

// ---- The driver API, as far as we use it (no CUDA header needed). ----
using CUresult = int;
using CUdevice = int;
using CUcontext = void *;
using CUdeviceptr = unsigned long long;
constexpr CUresult CUDA_SUCCESS = 0;

struct Driver {
    CUresult (*cuInit)(unsigned) = nullptr;
    CUresult (*cuDeviceGetCount)(int *) = nullptr;
    CUresult (*cuDeviceGet)(CUdevice *, int) = nullptr;
    CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice) = nullptr;
    CUresult (*cuCtxPushCurrent)(CUcontext) = nullptr;
    CUresult (*cuCtxPopCurrent)(CUcontext *) = nullptr;
    CUresult (*cuMemAlloc)(CUdeviceptr *, size_t) = nullptr;
    CUresult (*cuMemFree)(CUdeviceptr) = nullptr;
    CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t) = nullptr;
    CUresult (*cuGetErrorName)(CUresult, const char **) = nullptr;
    bool ok = false;
    std::string why;  // when !ok
};

template<typename F>
bool load(void *lib, F &fn, const char *name, std::string &why) {
    fn = reinterpret_cast<F>(dlsym(lib, name));
    if (fn == nullptr && why.empty()) why = std::string("libcuda.so.1 has no symbol ") + name;
    return fn != nullptr;
}

std::string error_name(const Driver &d, CUresult r) {
    const char *name = nullptr;
    if (d.cuGetErrorName && d.cuGetErrorName(r, &name) == CUDA_SUCCESS && name) return name;
    return "CUDA error " + std::to_string(r);
}

// Loaded once per process. RTLD_GLOBAL: Halide's runtime looks the driver's
// symbols up in the process first, and would otherwise try only the
// unversioned libcuda.so, which driver-only machines lack.
const Driver &driver() {
    static const Driver d = [] {
        Driver d;
        void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
        if (lib == nullptr) {
            const char *e = dlerror();
            d.why = std::string("the CUDA driver library libcuda.so.1 cannot be loaded (") + (e ? e : "unknown") +
                    "): no NVIDIA driver on this machine";
            return d;
        }
        bool all = load(lib, d.cuInit, "cuInit", d.why) & load(lib, d.cuDeviceGetCount, "cuDeviceGetCount", d.why) &
                   load(lib, d.cuDeviceGet, "cuDeviceGet", d.why) &
                   load(lib, d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", d.why) &
                   load(lib, d.cuCtxPushCurrent, "cuCtxPushCurrent_v2", d.why) &
                   load(lib, d.cuCtxPopCurrent, "cuCtxPopCurrent_v2", d.why) &
                   load(lib, d.cuMemAlloc, "cuMemAlloc_v2", d.why) & load(lib, d.cuMemFree, "cuMemFree_v2", d.why) &
                   load(lib, d.cuMemcpyHtoD, "cuMemcpyHtoD_v2", d.why) &
                   load(lib, d.cuGetErrorName, "cuGetErrorName", d.why);
        if (!all) return d;
        CUresult r = d.cuInit(0);
        if (r != CUDA_SUCCESS) {
            d.why = "the CUDA driver does not initialise (cuInit: " + error_name(d, r) + ")";
            return d;
        }
        int count = 0;
        r = d.cuDeviceGetCount(&count);
        if (r != CUDA_SUCCESS || count < 1) {
            d.why = r != CUDA_SUCCESS ? "cuDeviceGetCount failed: " + error_name(d, r) : "no CUDA device";
            return d;
        }
        d.ok = true;
        return d;
    }();
    return d;
}

const Driver &require_driver(const char *what) {
    const Driver &d = driver();
    if (!d.ok) throw Error(std::string(what) + ": CUDA is not available: " + d.why);
    return d;
}

void check_cu(const Driver &d, CUresult r, const std::string &what) {
    if (r != CUDA_SUCCESS) throw Error("CUDA: " + what + " failed: " + error_name(d, r));
}

// The primary context of a device, retained once for the process (as the
// CUDA runtime does; cudart and cuDNN use the same one).
CUcontext primary_context(int device) {
    const Driver &d = require_driver("forward_cuda");
    static std::mutex mutex;
    static std::map<int, CUcontext> retained;
    std::lock_guard<std::mutex> lock(mutex);
    auto it = retained.find(device);
    if (it != retained.end()) return it->second;
    int count = 0;
    check_cu(d, d.cuDeviceGetCount(&count), "cuDeviceGetCount");
    if (device < 0 || device >= count) {
        throw Error("CudaExecution.device is " + std::to_string(device) + " but this machine has " +
                    std::to_string(count) + " CUDA device(s)");
    }
    CUdevice dev = 0;
    check_cu(d, d.cuDeviceGet(&dev, device), "cuDeviceGet");
    CUcontext ctx = nullptr;
    check_cu(d, d.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain");
    retained[device] = ctx;
    return ctx;
}

// ---- Halide's hooks: the user_context of every CUDA call is a CudaCall. ----
struct CudaCall {
    CUcontext context;
    void *stream;
};

int acquire_context(void *user_context, void **ctx, bool create) {
    if (user_context != nullptr) {
        *ctx = static_cast<CudaCall *>(user_context)->context;
        return 0;
    }
    // Halide's own calls without a call context (its exit-time cleanup):
    // nothing to create; otherwise the primary context of device 0.
    if (!create) {
        *ctx = nullptr;
        return 0;
    }
    try {
        *ctx = primary_context(0);
        return 0;
    } catch (const Error &) {
        return halide_error_code_device_interface_no_device;
    }
}

int release_context(void *) { return 0; }

int get_stream(void *user_context, void *, void **stream) {
    *stream = user_context ? static_cast<CudaCall *>(user_context)->stream : nullptr;
    return 0;
}

void install_cuda_hooks() {
    static std::once_flag once;
    std::call_once(once, [] {
        halide_set_cuda_acquire_context(acquire_context);
        halide_set_cuda_release_context(release_context);
        halide_set_cuda_get_stream(get_stream);
        // Intermediates of the tiled plan come from Halide's cache (per
        // context and stream), not from cuMemAlloc / cuMemFree per call.
        halide_reuse_device_allocations(nullptr, true);
    });
}

// A device-resident halide_buffer_t (no host memory) over `dims`.
// Halide reads the shape through a non-const pointer but never writes it.
halide_buffer_t device_buffer(uint64_t ptr, const std::vector<halide_dimension_t> &dims) {
    halide_buffer_t b{};
    b.device = ptr;
    b.device_interface = halide_cuda_device_interface();
    b.host = nullptr;
    b.flags = 0;
    b.type = halide_type_t(halide_type_float, 32, 1);
    b.dimensions = static_cast<int32_t>(dims.size());
    b.dim = const_cast<halide_dimension_t *>(dims.data());
    return b;
}

template<typename T>
std::vector<halide_dimension_t> nchw_dims(const BasicTensor<T> &t) {
    return {{0, int32_t(t.shape[3]), int32_t(t.shape[3] == 1 ? 1 : t.strides[3]), 0},
            {0, int32_t(t.shape[2]), int32_t(t.strides[2]), 0},
            {0, int32_t(t.shape[1]), int32_t(t.strides[1]), 0},
            {0, int32_t(t.shape[0]), int32_t(t.strides[0]), 0}};
}

using CudaFn = int (*)(void const *, halide_buffer_t *, halide_buffer_t *, halide_buffer_t *, halide_buffer_t *,
                       halide_buffer_t *, halide_buffer_t *, int32_t, halide_buffer_t *);
struct CudaVariant {
    bool haar, plane;
    int levels;
    CudaFn fn;
};

const std::vector<CudaVariant> &cuda_variants() {
    static const std::vector<CudaVariant> variants = {
#define WTCONV_CUDA_VARIANT(haar, plane, levels, fn) {haar, plane, levels, fn},
#include "wtconv_cuda_variants.inc"
#undef WTCONV_CUDA_VARIANT
    };
    return variants;
}

}  // namespace

// One device copy of each weight tensor, dense, in one context.
struct CudaWeights::Device {
    CUcontext context = nullptr;
    struct Tensor {
        CUdeviceptr ptr = 0;
        std::vector<halide_dimension_t> dims;
    };
    Tensor base_weight, base_bias, band_weight, analysis, synthesis;

    Tensor *all[5] = {&base_weight, &base_bias, &band_weight, &analysis, &synthesis};

    template<typename T, int D>
    void upload(const Driver &d, const Halide::Runtime::Buffer<T, D> &host, Tensor &to) {
        Halide::Runtime::Buffer<float> dense = Halide::Runtime::Buffer<float>(host).copy();
        const size_t bytes = std::max<size_t>(dense.size_in_bytes(), sizeof(float));
        check_cu(d, d.cuMemAlloc(&to.ptr, bytes), "cuMemAlloc of " + std::to_string(bytes) + " bytes of weights");
        check_cu(d, d.cuMemcpyHtoD(to.ptr, dense.data(), dense.size_in_bytes()), "cuMemcpyHtoD of weights");
        to.dims.assign(dense.raw_buffer()->dim, dense.raw_buffer()->dim + dense.dimensions());
    }

    void free_all(const Driver &d) {
        for (Tensor *t : all) {
            if (t->ptr) d.cuMemFree(t->ptr);  // errors ignored: a destroyed context freed it already
            t->ptr = 0;
        }
    }
};

CudaWeights::CudaWeights() = default;

CudaWeights::~CudaWeights() {
    if (by_context_.empty()) return;  // never ran on CUDA: do not load the driver just to quit
    const Driver &d = driver();
    if (!d.ok) return;
    for (auto &[context, device] : by_context_) {
        if (d.cuCtxPushCurrent(context) != CUDA_SUCCESS) continue;  // context gone: its memory went with it
        device->free_all(d);
        CUcontext popped;
        d.cuCtxPopCurrent(&popped);
    }
}

const CudaWeights::Device &CudaWeights::in_context(void *context, const PreparedWeights &w) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = by_context_.find(context);
    if (it != by_context_.end()) return *it->second;
    const Driver &d = require_driver("forward_cuda");
    auto device = std::make_unique<Device>();
    device->context = context;
    check_cu(d, d.cuCtxPushCurrent(context), "cuCtxPushCurrent (is CudaExecution.context a valid CUcontext?)");
    try {
        device->upload(d, w.base_weight, device->base_weight);
        device->upload(d, w.base_bias, device->base_bias);
        device->upload(d, w.band_weight, device->band_weight);
        device->upload(d, w.analysis, device->analysis);
        device->upload(d, w.synthesis, device->synthesis);
    } catch (...) {
        device->free_all(d);
        CUcontext popped;
        d.cuCtxPopCurrent(&popped);
        throw;
    }
    CUcontext popped;
    d.cuCtxPopCurrent(&popped);
    return *(by_context_[context] = std::move(device));
}

bool cuda_built() { return true; }

bool cuda_probe(std::string *why) {
    const Driver &d = driver();
    if (why) *why = d.ok ? "" : d.why;
    return d.ok;
}

int max_cuda_levels(bool haar) {
    int most = 0;
    for (const CudaVariant &v : cuda_variants()) {
        if (v.haar == haar) most = std::max(most, v.levels);
    }
    return most;
}

int cuda_plane_max() { return WTCONV_CUDA_PLANE_MAX; }

void run_fused_cuda(const PreparedWeights &w, CudaWeights &weights, bool haar, int stride, const ConstTensor &x,
                    const Tensor &y, const CudaExecution &exec) {
    require_driver("forward_cuda");
    install_halide_error_handler();
    install_cuda_hooks();
    CudaCall call{exec.context ? exec.context : primary_context(exec.device), exec.stream};
    const CudaWeights::Device &dw = weights.in_context(call.context, w);

    const bool plane = x.shape[2] <= cuda_plane_max() && x.shape[3] <= cuda_plane_max();
    for (const CudaVariant &v : cuda_variants()) {
        if (v.haar != haar || v.plane != plane || v.levels != w.levels) continue;
        const std::vector<halide_dimension_t> x_dims = nchw_dims(x), y_dims = nchw_dims(y);
        halide_buffer_t hx = device_buffer(reinterpret_cast<uintptr_t>(x.data), x_dims);
        halide_buffer_t hy = device_buffer(reinterpret_cast<uintptr_t>(y.data), y_dims);
        halide_buffer_t bw = device_buffer(dw.base_weight.ptr, dw.base_weight.dims);
        halide_buffer_t bb = device_buffer(dw.base_bias.ptr, dw.base_bias.dims);
        halide_buffer_t nw = device_buffer(dw.band_weight.ptr, dw.band_weight.dims);
        halide_buffer_t an = device_buffer(dw.analysis.ptr, dw.analysis.dims);
        halide_buffer_t sy = device_buffer(dw.synthesis.ptr, dw.synthesis.dims);
        check_halide(v.fn(&call, &hx, &bw, &bb, &nw, &an, &sy, stride, &hy),
                     haar ? "cuda fused_haar" : "cuda fused_general");
        return;
    }
    throw Error(std::string("no CUDA ") + (haar ? "Haar" : "general") + (plane ? " plane" : " tiled") +
                " variant for " + std::to_string(w.levels) + " levels");
}

}  // namespace wtconv::detail

#else  // !WTCONV_CUDA: the library was built without CUDA pipelines.

namespace wtconv::detail {

struct CudaWeights::Device {};
CudaWeights::CudaWeights() = default;
CudaWeights::~CudaWeights() = default;
const CudaWeights::Device &CudaWeights::in_context(void *, const PreparedWeights &) {
    throw Error("forward_cuda: this libwtconv was built without CUDA (WTCONV_CUDA=OFF)");
}

bool cuda_built() { return false; }
bool cuda_probe(std::string *why) {
    if (why) *why = "this libwtconv was built without CUDA (WTCONV_CUDA=OFF)";
    return false;
}
int max_cuda_levels(bool) { return 0; }
int cuda_plane_max() { return 0; }
void run_fused_cuda(const PreparedWeights &, CudaWeights &, bool, int, const ConstTensor &, const Tensor &,
                    const CudaExecution &) {
    throw Error("forward_cuda: this libwtconv was built without CUDA (WTCONV_CUDA=OFF)");
}

}  // namespace wtconv::detail

#endif
