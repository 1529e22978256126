// Error checks for the CUDA benchmark: every CUDA runtime call's status is
// checked, and a failure becomes a std::runtime_error naming the call, the
// file and line, and CUDA's message.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <stdexcept>
#include <string>

namespace wtconv::bench {

inline void cuda_check(cudaError_t status, const char *what, const char *file, int line) {
    if (status != cudaSuccess) {
        throw std::runtime_error(std::string(what) + " failed at " + file + ":" + std::to_string(line) + ": " +
                                 cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ")");
    }
}

}  // namespace wtconv::bench

#define WTCONV_CUDA_CHECK(call) ::wtconv::bench::cuda_check((call), #call, __FILE__, __LINE__)

namespace wtconv::bench {

// cudaMalloc of n elements of T.
template<typename T>
T *device_alloc(size_t n) {
    void *p = nullptr;
    WTCONV_CUDA_CHECK(cudaMalloc(&p, n * sizeof(T)));
    return static_cast<T *>(p);
}

}  // namespace wtconv::bench
