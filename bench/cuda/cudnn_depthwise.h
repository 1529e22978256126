// cuDNN's depthwise k x k convolution (float32, groups = C, 'same' padding,
// stride 1, no bias), the GPU yardstick of wtconv_cuda_bench: cuDNN 9's
// legacy convolution API with CUDNN_FMA_MATH (no TF32), the fastest
// algorithm cuDNN's own cudnnFindConvolutionForwardAlgorithmEx measures
// (workspace capped), timed on cudnnConvolutionForward alone.
//
// libcudnn.so.9 is opened at run time (dlopen), not linked: the benchmark
// loads and runs its other rows on a machine without cuDNN, and on the GPU
// machine it takes the cuDNN that PyTorch's wheel ships (LD_LIBRARY_PATH, or
// WTCONV_CUDNN_LIBRARY=/path/to/libcudnn.so.9). Only cudnn.h is needed to
// build.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <memory>
#include <string>

namespace wtconv::bench {

// Opens libcudnn.so.9 once and resolves the functions used here. False, with
// the reason in *why, if it is missing, too old (< 9.0) or lacks a symbol.
bool cudnn_load(std::string *why = nullptr);
// "9.19.0 (libcudnn.so.9)" once loaded; empty otherwise.
std::string cudnn_version();

struct CudnnOptions {
    int n = 1, c = 1, h = 1, w = 1, k = 5;
    bool nhwc = false;                      // tensors and filter channels-last (NHWC / KRSC)
    size_t workspace_cap = size_t(1) << 30;  // bytes cudnnFind may use (and the chosen algorithm)
};

class CudnnDepthwise {
public:
    // Describes the convolution, fills the filter with random values, runs
    // cudnnFindConvolutionForwardAlgorithmEx on x and y (device buffers of
    // n*c*h*w floats, contents overwritten in y) and keeps the fastest
    // algorithm in FMA math. Synchronises `stream`. Throws std::runtime_error.
    CudnnDepthwise(cudaStream_t stream, const CudnnOptions &options, const float *x, float *y);
    ~CudnnDepthwise();
    CudnnDepthwise(const CudnnDepthwise &) = delete;
    CudnnDepthwise &operator=(const CudnnDepthwise &) = delete;

    // Queues one y = conv(x) on the stream (no synchronisation).
    void run(const float *x, float *y) const;

    // e.g. "IMPLICIT_GEMM(0) FMA ws=0B" (algorithm, math type, workspace).
    const std::string &name() const;
    // Every result cudnnFind returned, fastest first: "algo math status time_ms ws; ...".
    const std::string &find_log() const;
    double find_seconds() const;  // wall time of the Find call (first-call cost, untimed)

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace wtconv::bench
