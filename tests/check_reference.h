// Runs a layer and compares every output element with the double-precision
// reference: |y - ref| <= tol * (magnitude of the terms that made it).
#pragma once

#include "pipelines.h"  // runtime/: which fused variants this build compiled
#include "reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace wtconv::testing {

// Float32 rounding over the layer's chain of sums, relative to the sum of
// |terms| (the magnitude pass of the reference).
constexpr double kRelativeTolerance = 1e-6;

inline ::testing::AssertionResult matches_reference(const std::vector<float> &y, const std::vector<double> &ref,
                                                     const std::vector<double> &magnitude) {
    if (y.size() != ref.size()) return ::testing::AssertionFailure() << "size " << y.size() << " vs " << ref.size();
    size_t worst = 0;
    double worst_ratio = 0;
    for (size_t i = 0; i < y.size(); i++) {
        const double err = std::fabs(double(y[i]) - ref[i]);
        const double ratio = err / (kRelativeTolerance * magnitude[i] + 1e-30);
        if (!(ratio <= 1.0) && !(ratio <= worst_ratio)) {  // NaN counts as a failure
            worst = i;
            worst_ratio = std::isnan(ratio) ? std::numeric_limits<double>::infinity() : ratio;
        }
    }
    if (worst_ratio > 1.0) {
        return ::testing::AssertionFailure() << "element " << worst << ": got " << y[worst] << ", reference "
                                             << ref[worst] << " (term magnitude " << magnitude[worst] << ", "
                                             << worst_ratio << "x the tolerance)";
    }
    return ::testing::AssertionSuccess();
}

// Whether this build compiled the pipeline `path` names for a level count.
// Narrowed builds (WTCONV_HAAR_LEVELS / WTCONV_GENERAL_LEVELS, e.g. the
// autoscheduled ones of tools/test_autoscheduled.sh) compile a subset; a
// test that names a fused path checks only the variants that exist (the
// automatic path and the staged one always run). Test_api's
// Variants.EveryConfiguredLevelIsCompiled checks the subset is what CMake asked for.
inline bool compiled(Path path, int levels) {
    if (path == Path::fused_haar) return detail::has_fused_variant(true, levels);
    if (path == Path::fused_general) return detail::has_fused_variant(false, levels);
    return true;
}

// Runs layer(x) through `path` on a fresh random input of shape [N, C, H, W]
// stored in `layout` (the output in the same layout), and checks it against
// the reference (which works in NCHW).
inline void expect_layer_matches_reference(const RandomLayer &spec, int N, int H, int W, Path path, Random &rnd,
                                           Layout layout = Layout::nchw) {
    if (!compiled(path, spec.levels)) return;  // not in this build: see compiled()
    SCOPED_TRACE("N=" + std::to_string(N) + " H=" + std::to_string(H) + " W=" + std::to_string(W) + " path=" +
                 to_string(path) + " layout=" + to_string(layout));
    Layer layer = spec.make_layer();
    const int C = spec.channels;
    std::vector<float> x = rnd.nonzero_vector(size_t(N) * C * H * W);
    const auto out = layer.output_shape({N, C, H, W});
    std::vector<float> y(size_t(out[0] * out[1] * out[2] * out[3]), std::numeric_limits<float>::quiet_NaN());
    if (layout == Layout::nchw) {
        layer.forward(ConstTensor::nchw(x.data(), N, C, H, W), Tensor::nchw(y.data(), out[0], out[1], out[2], out[3]),
                      path);
    } else {
        // The same values in `layout`'s memory, in and out. The pad lanes of
        // a channel-blocked x hold random values, those of y NaN: the
        // forward must leave zeros there.
        std::vector<float> x_mem = rnd.nonzero_vector(detail::contiguous_elements({N, C, H, W}, layout)), y_mem;
        const Tensor X = detail::contiguous(x_mem.data(), {N, C, H, W}, layout);
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
                for (int h = 0; h < H; h++)
                    for (int w = 0; w < W; w++)
                        x_mem[detail::offset_of(X, n, c, h, w)] = x[((size_t(n) * C + c) * H + h) * W + w];
        y_mem.assign(detail::contiguous_elements(out, layout), std::numeric_limits<float>::quiet_NaN());
        const Tensor Y = detail::contiguous(y_mem.data(), out, layout);
        if (path != Path::staged && (layout == Layout::nchw16c || (C > 1 && W > 1))) {
            EXPECT_EQ(Layer::layout_for(X, Y), layout);
        }
        layer.forward(X, Y, path);
        const int64_t lanes = layout == Layout::nchw16c ? Y.channel_blocks() * kChannelBlock : C;
        for (int64_t n = 0; n < out[0]; n++)
            for (int64_t c = 0; c < lanes; c++)
                for (int64_t h = 0; h < out[2]; h++)
                    for (int64_t w = 0; w < out[3]; w++) {
                        const float v = y_mem[detail::offset_of(Y, n, c, h, w)];
                        if (c < C) {
                            y[((n * C + c) * out[2] + h) * out[3] + w] = v;
                        } else if (!(v == 0.0f)) {
                            ADD_FAILURE() << "pad lane " << c << " of y at (" << n << ", " << h << ", " << w
                                          << ") is " << v << ", not 0";
                            return;
                        }
                    }
    }
    EXPECT_TRUE(matches_reference(y, reference_forward(spec, x, N, H, W), reference_forward(spec, x, N, H, W, true)));
}

}  // namespace wtconv::testing
