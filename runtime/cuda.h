// The CUDA side of libwtconv: the driver (libcuda.so.1, loaded with dlopen,
// never linked), the hooks that let a call's CudaExecution choose Halide's
// context and stream, device copies of a layer's weights (one per context),
// and the calls into the CUDA AOT variants.
#pragma once

#include "weights.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace wtconv::detail {

// Whether the CUDA pipelines were compiled in (WTCONV_CUDA).
bool cuda_built();

// cuda_available(): driver loads and initialises, a device exists.
bool cuda_probe(std::string *why);

// The largest level count with a CUDA variant of each path (0: none).
int max_cuda_levels(bool haar);

// Planes up to this size (H and W) run the one-launch shared-memory plan.
int cuda_plane_max();

// A layer's weights on the device, one copy per CUDA context, uploaded at the
// first forward in that context and freed (in their context) with the layer.
class CudaWeights {
public:
    CudaWeights();
    ~CudaWeights();
    CudaWeights(const CudaWeights &) = delete;
    CudaWeights &operator=(const CudaWeights &) = delete;

    struct Device;  // device buffers of one context

    // The copy for `context`, uploaded from `w` if there is none yet.
    const Device &in_context(void *context, const PreparedWeights &w);

private:
    std::mutex mutex_;
    std::map<void *, std::unique_ptr<Device>> by_context_;
};

// y = layer(x) on the device: x, y are device pointers in exec's context
// (already checked: shapes, width stride 1, no overlap).
void run_fused_cuda(const PreparedWeights &w, CudaWeights &weights, bool haar, int stride, const ConstTensor &x,
                    const Tensor &y, const CudaExecution &exec);

}  // namespace wtconv::detail
