// An independent double-precision WTConv2d forward, written step by step
// from ../shared/SPEC.md (not from the library's algorithm): the oracle of
// the randomized tests. With `magnitude` set it runs on absolute values and
// so bounds |every term| that float32 rounding can scale: the tolerance.
#pragma once

#include "random_layer.h"

#include <cmath>
#include <vector>

namespace wtconv::testing {

// One channel's plane, zero outside [0, h) x [0, w).
struct Plane {
    int h = 0, w = 0;
    std::vector<double> v;
    Plane() = default;
    Plane(int h_, int w_) : h(h_), w(w_), v(size_t(h_) * w_, 0.0) {}
    double at(int y, int x) const { return (y < 0 || x < 0 || y >= h || x >= w) ? 0.0 : v[size_t(y) * w + x]; }
    double &operator()(int y, int x) { return v[size_t(y) * w + x]; }
};

// PyTorch padding='same': (k-1)/2 before, the rest after.
inline Plane conv_same(const Plane &in, const float *kernel, int k, double scale, bool magnitude) {
    Plane out(in.h, in.w);
    const int before = (k - 1) / 2;
    for (int y = 0; y < in.h; y++)
        for (int x = 0; x < in.w; x++) {
            double s = 0;
            for (int i = 0; i < k; i++)
                for (int j = 0; j < k; j++) {
                    const double wt = magnitude ? std::fabs(kernel[i * k + j]) : kernel[i * k + j];
                    s += wt * in.at(y + i - before, x + j - before);
                }
            out(y, x) = (magnitude ? std::fabs(scale) : scale) * s;
        }
    return out;
}

// Level DWT of ll: pad odd sizes by one, then the stride-2 cross-correlation.
inline std::vector<Plane> dwt(const Plane &ll, const float *filters /* [4][F][F] */, int F, bool magnitude) {
    const int hp = ll.h + ll.h % 2, wp = ll.w + ll.w % 2, p = F / 2 - 1;
    std::vector<Plane> bands(4, Plane(hp / 2, wp / 2));
    for (int b = 0; b < 4; b++)
        for (int y = 0; y < hp / 2; y++)
            for (int x = 0; x < wp / 2; x++) {
                double s = 0;
                for (int i = 0; i < F; i++)
                    for (int j = 0; j < F; j++) {
                        const double a = filters[(b * F + i) * F + j];
                        s += (magnitude ? std::fabs(a) : a) * ll.at(2 * y + i - p, 2 * x + j - p);
                    }
                bands[b](y, x) = s;
            }
    return bands;
}

// Transposed conv of the four bands, cropped to (h, w).
inline Plane idwt(const std::vector<Plane> &z, const float *filters, int F, int h, int w, bool magnitude) {
    const int p = F / 2 - 1;
    Plane out(h, w);
    for (int b = 0; b < 4; b++)
        for (int y = 0; y < z[b].h; y++)
            for (int x = 0; x < z[b].w; x++)
                for (int i = 0; i < F; i++)
                    for (int j = 0; j < F; j++) {
                        const int Y = 2 * y + i - p, X = 2 * x + j - p;
                        if (Y < 0 || X < 0 || Y >= h || X >= w) continue;  // outside U, or cropped
                        const double s = filters[(b * F + i) * F + j];
                        out(Y, X) += (magnitude ? std::fabs(s) : s) * z[b].at(y, x);
                    }
    return out;
}

// y for one layer and input, both as the library sees them (NCHW float32).
inline std::vector<double> reference_forward(const RandomLayer &layer, const std::vector<float> &x, int N, int H,
                                             int W, bool magnitude = false) {
    const int C = layer.channels, k = layer.kernel_size, s = layer.stride;
    const int Ho = (H - 1) / s + 1, Wo = (W - 1) / s + 1;
    const int Fa = layer.analysis_taps, Fs = layer.synthesis_taps;
    std::vector<double> y(size_t(N) * C * Ho * Wo);
    const float *wt = layer.tensor("wt_filter"), *iwt = layer.tensor("iwt_filter");
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            Plane in(H, W);
            for (size_t i = 0; i < in.v.size(); i++) {
                const double v = x[(size_t(n) * C + c) * H * W + i];
                in.v[i] = magnitude ? std::fabs(v) : v;
            }
            // Down.
            std::vector<std::vector<Plane>> g(layer.levels);
            std::vector<std::pair<int, int>> shapes;
            Plane ll = in;
            for (int l = 0; l < layer.levels; l++) {
                shapes.push_back({ll.h, ll.w});
                std::vector<Plane> d = dwt(ll, wt + size_t(4 * c) * Fa * Fa, Fa, magnitude);
                const float *weights = layer.tensor("wavelet_convs." + std::to_string(l) + ".weight");
                const float *scales = layer.tensor("wavelet_scale." + std::to_string(l) + ".weight");
                for (int b = 0; b < 4; b++) {
                    g[l].push_back(conv_same(d[b], weights + size_t(4 * c + b) * k * k, k, scales[4 * c + b], magnitude));
                }
                ll = d[0];  // the raw LL band
            }
            // Up.
            Plane r = g.empty() ? Plane(H, W) : Plane(g.back()[0].h, g.back()[0].w);
            for (int l = layer.levels - 1; l >= 0; l--) {
                std::vector<Plane> z = g[l];
                for (size_t i = 0; i < z[0].v.size(); i++) z[0].v[i] += r.v[i];
                r = idwt(z, iwt + size_t(4 * c) * Fs * Fs, Fs, shapes[l].first, shapes[l].second, magnitude);
            }
            // Base branch, sum, stride.
            const double bias = layer.bias ? layer.tensor("base_conv.bias")[c] : 0.0;
            Plane base = conv_same(in, layer.tensor("base_conv.weight") + size_t(c) * k * k, k, 1.0, magnitude);
            const double scale = layer.tensor("base_scale.weight")[c];
            for (int yo = 0; yo < Ho; yo++)
                for (int xo = 0; xo < Wo; xo++) {
                    const double b = base(yo * s, xo * s) + (magnitude ? std::fabs(bias) : bias);
                    y[((size_t(n) * C + c) * Ho + yo) * Wo + xo] =
                        (magnitude ? std::fabs(scale) : scale) * b + r(yo * s, xo * s);
                }
        }
    return y;
}

}  // namespace wtconv::testing
