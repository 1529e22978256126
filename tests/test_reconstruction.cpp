// The perfect-reconstruction property through the whole layer: identity
// band kernels and unit scales at level 1, zero kernels below, zero base
// conv: the layer returns its input (SPEC.md; the LL path is added once per
// level, so deeper levels must be zero).
#include "random_layer.h"

#include <gtest/gtest.h>

#include <cmath>

namespace wtconv::testing {
namespace {

RandomLayer identity_layer(const std::string &wavelet, int levels, int k, Random &rnd) {
    RandomLayer l = random_layer({2, k, levels, 1, wavelet, rnd.uniform(0, 1) == 1}, rnd);
    auto fill = [&](const std::string &name, float v) {
        for (float &f : l.data.at(name)) f = v;
    };
    fill("base_conv.weight", 0.0f);
    if (l.bias) fill("base_conv.bias", 0.0f);
    const int centre = (k - 1) / 2;  // 'same' padding puts (k-1)/2 before
    for (int i = 0; i < levels; i++) {
        const std::string s = std::to_string(i);
        fill("wavelet_convs." + s + ".weight", 0.0f);
        fill("wavelet_scale." + s + ".weight", 1.0f);
    }
    float *w0 = l.mutable_tensor("wavelet_convs.0.weight");
    for (int cb = 0; cb < 4 * l.channels; cb++) w0[(cb * k + centre) * k + centre] = 1.0f;
    return l;
}

std::vector<float> run(const RandomLayer &spec, const std::vector<float> &x, int N, int H, int W) {
    std::vector<float> y(x.size(), std::nanf(""));
    spec.make_layer().forward(ConstTensor::nchw(x.data(), N, spec.channels, H, W),
                              Tensor::nchw(y.data(), N, spec.channels, H, W));
    return y;
}

TEST(Reconstruction, HaarReturnsItsInputAtAnySize) {
    Random rnd(21);
    for (int levels : {1, 2, 3, 5, 7}) {
        for (auto [H, W] : {std::pair{1, 1}, {1, 6}, {7, 3}, {16, 16}, {37, 29}}) {
            SCOPED_TRACE("L=" + std::to_string(levels) + " " + std::to_string(H) + "x" + std::to_string(W));
            RandomLayer l = identity_layer(rnd.uniform(0, 1) ? "db1" : "haar", levels, rnd.pick(std::vector<int>{3, 4, 5}), rnd);
            std::vector<float> x = rnd.nonzero_vector(size_t(2) * 2 * H * W);
            std::vector<float> y = run(l, x, 2, H, W);
            // Float32 rounding: taps are 0.49999997f, not 0.5 (analysis then
            // synthesis scales by 4 * tap^2 = 1 - 1.2e-7), and each output
            // sums four values of up to |x| <= 1.25: a few ulps of 1.25.
            for (size_t i = 0; i < x.size(); i++) ASSERT_NEAR(y[i], x[i], 1e-6) << "at " << i;
        }
    }
}

TEST(Reconstruction, OrthogonalWaveletsReturnTheInputAwayFromBorders) {
    Random rnd(22);
    for (const char *wavelet : {"db2", "db4", "sym5", "coif2"}) {
        SCOPED_TRACE(wavelet);
        const int H = 40, W = 36;
        RandomLayer l = identity_layer(wavelet, rnd.uniform(1, 3), 3, rnd);
        const int margin = l.analysis_taps;
        std::vector<float> x = rnd.nonzero_vector(size_t(2) * H * W);
        std::vector<float> y = run(l, x, 1, H, W);
        for (int c = 0; c < 2; c++)
            for (int yy = margin; yy < H - margin; yy++)
                for (int xx = margin; xx < W - margin; xx++) {
                    const size_t i = (size_t(c) * H + yy) * W + xx;
                    ASSERT_NEAR(y[i], x[i], 1e-5) << "at c=" << c << " y=" << yy << " x=" << xx;
                }
    }
}

}  // namespace
}  // namespace wtconv::testing
