// Each stage pipeline alone (the staged path's building blocks) against its
// formula in reference.h: DWT, band conv, IDWT, base conv + stride, and the
// plain depthwise conv.
#include "reference.h"

#include "HalideBuffer.h"
#include "wtconv_stage_band_conv.h"
#include "wtconv_stage_base.h"
#include "wtconv_stage_depthwise.h"
#include "wtconv_stage_dwt.h"
#include "wtconv_stage_idwt.h"

#include <gtest/gtest.h>

namespace wtconv::testing {
namespace {

using Halide::Runtime::Buffer;

Plane plane_of(const Buffer<float> &b, std::vector<int> index /* coordinates after x, y */) {
    Plane p(b.dim(1).extent(), b.dim(0).extent());
    std::vector<int> pos(b.dimensions(), 0);
    for (size_t i = 0; i < index.size(); i++) pos[i + 2] = index[i];
    for (int y = 0; y < p.h; y++)
        for (int x = 0; x < p.w; x++) {
            pos[0] = x;
            pos[1] = y;
            p(y, x) = b(pos.data());
        }
    return p;
}

void expect_near_plane(const Plane &got, const Plane &want, double tol) {
    ASSERT_EQ(got.h, want.h);
    ASSERT_EQ(got.w, want.w);
    for (size_t i = 0; i < got.v.size(); i++) {
        ASSERT_NEAR(got.v[i], want.v[i], tol * (1 + std::fabs(want.v[i]))) << "at y=" << i / got.w << " x=" << i % got.w;
    }
}

Buffer<float> random_buffer(std::vector<int> sizes, Random &rnd) {
    Buffer<float> b(sizes);
    b.for_each_value([&](float &v) { v = rnd.nonzero(); });
    return b;
}

TEST(Stages, DwtMatchesFormulaForEveryFilterSize) {
    Random rnd(11);
    for (const char *wavelet : {"db1", "db2", "sym4", "bior2.2", "custom:6"}) {
        SCOPED_TRACE(wavelet);
        RandomLayer layer = random_layer({2, 3, 1, 1, wavelet, true}, rnd);
        const int F = layer.analysis_taps, H = rnd.uniform(1, 23), W = rnd.uniform(1, 23);
        Buffer<float> plane = random_buffer({W, H, 2, 1}, rnd);
        Buffer<float> filters(const_cast<float *>(layer.tensor("wt_filter")), {F, F, 4, 2});
        Buffer<float> bands((W + 1) / 2, (H + 1) / 2, 4, 2, 1);
        ASSERT_EQ(wtconv_stage_dwt(plane, filters, bands), 0);
        for (int c = 0; c < 2; c++) {
            auto want = dwt(plane_of(plane, {c, 0}), layer.tensor("wt_filter") + 4 * c * F * F, F, false);
            for (int b = 0; b < 4; b++) expect_near_plane(plane_of(bands, {b, c, 0}), want[b], 1e-5);
        }
    }
}

TEST(Stages, BandConvIsSamePaddedCrossCorrelation) {
    Random rnd(12);
    for (int k : {1, 2, 3, 4, 5, 7}) {
        SCOPED_TRACE("k=" + std::to_string(k));
        const int H = rnd.uniform(1, 19), W = rnd.uniform(1, 19);
        Buffer<float> bands = random_buffer({W, H, 4, 2, 1}, rnd);
        Buffer<float> weight = random_buffer({k, k, 4, 2}, rnd);
        Buffer<float> out(W, H, 4, 2, 1);
        ASSERT_EQ(wtconv_stage_band_conv(bands, weight, out), 0);
        for (int c = 0; c < 2; c++)
            for (int b = 0; b < 4; b++) {
                Plane want = conv_same(plane_of(bands, {b, c, 0}), &weight(0, 0, b, c), k, 1.0, false);
                expect_near_plane(plane_of(out, {b, c, 0}), want, 1e-5);
            }
    }
}

TEST(Stages, IdwtAddsBelowToLowBandAndCrops) {
    Random rnd(13);
    for (const char *wavelet : {"db1", "db3", "coif1", "custom:4"}) {
        SCOPED_TRACE(wavelet);
        RandomLayer layer = random_layer({1, 3, 1, 1, wavelet, true}, rnd);
        const int F = layer.synthesis_taps, H = rnd.uniform(1, 21), W = rnd.uniform(1, 21);
        const int h = (H + 1) / 2, w = (W + 1) / 2;
        Buffer<float> bands = random_buffer({w, h, 4, 1, 1}, rnd);
        Buffer<float> below = random_buffer({w, h, 1, 1}, rnd);
        Buffer<float> filters(const_cast<float *>(layer.tensor("iwt_filter")), {F, F, 4, 1});
        Buffer<float> out(W, H, 1, 1);
        ASSERT_EQ(wtconv_stage_idwt(bands, below, filters, out), 0);
        std::vector<Plane> z;
        for (int b = 0; b < 4; b++) z.push_back(plane_of(bands, {b, 0, 0}));
        const Plane r = plane_of(below, {0, 0});
        for (size_t i = 0; i < r.v.size(); i++) z[0].v[i] += r.v[i];
        expect_near_plane(plane_of(out, {0, 0}), idwt(z, layer.tensor("iwt_filter"), F, H, W, false), 1e-5);
    }
}

TEST(Stages, BaseConvAddsDetailAtKeptPixels) {
    Random rnd(14);
    for (int stride : {1, 2, 3}) {
        const int k = rnd.uniform(1, 6), H = rnd.uniform(1, 20), W = rnd.uniform(1, 20);
        const int Ho = (H - 1) / stride + 1, Wo = (W - 1) / stride + 1;
        Buffer<float> x = random_buffer({W, H, 1, 1}, rnd), detail = random_buffer({W, H, 1, 1}, rnd);
        Buffer<float> weight = random_buffer({k, k, 1}, rnd), bias = random_buffer({1}, rnd);
        Buffer<float> out(Wo, Ho, 1, 1);
        ASSERT_EQ(wtconv_stage_base(x, weight, bias, detail, stride, out), 0);
        const Plane base = conv_same(plane_of(x, {0, 0}), weight.data(), k, 1.0, false);
        for (int y = 0; y < Ho; y++)
            for (int xo = 0; xo < Wo; xo++) {
                const double want = base.at(y * stride, xo * stride) + bias(0) + detail(xo * stride, y * stride, 0, 0);
                ASSERT_NEAR(out(xo, y, 0, 0), want, 1e-5 * (1 + std::fabs(want)));
            }
    }
}

TEST(Stages, DepthwiseConvMatchesFormula) {
    Random rnd(15);
    const int k = 5, H = 17, W = 23;
    Buffer<float> x = random_buffer({W, H, 3, 2}, rnd), weight = random_buffer({k, k, 3}, rnd);
    Buffer<float> out(W, H, 3, 2);
    ASSERT_EQ(wtconv_stage_depthwise(x, weight, out), 0);
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 3; c++) {
            expect_near_plane(plane_of(out, {c, n}), conv_same(plane_of(x, {c, n}), &weight(0, 0, c), k, 1.0, false),
                              1e-5);
        }
}

}  // namespace
}  // namespace wtconv::testing
