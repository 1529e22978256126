// Checking a state dict and preparing its tensors once, at load: scales
// folded into the conv weights, tensors laid out as the pipelines read them.
#pragma once

#include "wtconv/wtconv.h"

#include "HalideBuffer.h"

namespace wtconv::detail {

struct PreparedWeights {
    int channels = 0, kernel_size = 0, levels = 0;
    int analysis_taps = 0, synthesis_taps = 0;
    bool bias = false;
    bool haar = false;  // filters are exactly the reference's db1 ones
    // (kx, ky, c): base_scale[c] * base_conv.weight[c, 0, ky, kx]
    Halide::Runtime::Buffer<float, 3> base_weight;
    // (c): base_scale[c] * base_conv.bias[c], or 0
    Halide::Runtime::Buffer<float, 1> base_bias;
    // (kx, ky, b, c, l): wavelet_scale.l[4c+b] * wavelet_convs.l.weight[4c+b, 0, ky, kx]
    Halide::Runtime::Buffer<float, 5> band_weight;
    // (j, i, b, c): wt_filter / iwt_filter[4c+b, 0, i, j]
    Halide::Runtime::Buffer<float, 4> analysis, synthesis;

    // The same weights stored channels-innermost, for the channels-last
    // pipelines (indexed exactly as above; only the strides differ), with
    // zeros for the pad channels of a channel-blocked tensor's last block.
    Halide::Runtime::Buffer<float, 1> base_bias_last;
    Halide::Runtime::Buffer<float, 3> base_weight_last;
    Halide::Runtime::Buffer<float, 5> band_weight_last;
    Halide::Runtime::Buffer<float, 4> analysis_last, synthesis_last;
};

// Reads and checks every WTConv tensor under `prefix`. Filters come from the
// state dict or, when it has none, from `wavelet`. Throws wtconv::Error
// naming the tensor and shapes at fault.
PreparedWeights prepare_weights(const StateDict &tensors, const std::string &prefix,
                                const std::optional<std::string> &wavelet);

}  // namespace wtconv::detail
