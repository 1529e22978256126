// The WTConv2d algorithm as Halide Funcs: no scheduling here.
//
// Every array is a Func over (x, y, ...) that is exactly zero outside its
// valid region, which is how the reference module's zero padding (conv
// padding, odd-size padding before each DWT, cropping after each IDWT) is
// reproduced. Band arrays are (x, y, band, c, n); planes are (x, y, c, n).
// Semantics: ../shared/SPEC.md.
#pragma once

#include "Halide.h"

namespace wtconv {

using Halide::Expr;
using Halide::Func;
using Halide::RDom;
using Halide::Var;

// The Vars every Func of the pipeline is defined over. One set per pipeline
// so that schedules can name them.
struct Vars {
    Var x{"x"}, y{"y"}, b{"b"}, c{"c"}, n{"n"};
};

// The valid extent of one level's planes.
struct Extent {
    Expr w, h;
};

// Level l + 1 of an (w, h) plane: odd sizes are padded by one before halving.
inline Extent half_extent(const Extent &e) {
    return {(e.w + 1) / 2, (e.h + 1) / 2};
}

// f restricted to [0, w) x [0, h) in its first two dimensions, zero outside.
// Callers of the result never read f outside that region.
// `args` are the Vars of f's dimensions, x and y first.
inline Func zero_outside(const Func &f, const Extent &e, const std::vector<Var> &args,
                         const std::string &name) {
    // One condition per dimension: loop partitioning then drops each from
    // the steady state of its own loop (a combined x-or-y test stayed in
    // every iteration of the padded copies, PERFORMANCE.md step 19).
    Func rows = Halide::BoundaryConditions::constant_exterior(f, 0.0f, {{Expr(), Expr()}, {0, e.h}});
    Func masked = Halide::BoundaryConditions::constant_exterior(rows, 0.0f, {{0, e.w}});
    Func named(name);
    named(args) = masked(args);
    return named;
}

// An input buffer as the algorithm reads it. Autoscheduled builds clamp
// every coordinate into the buffer: an autoscheduler may compute an
// intermediate Func over more than its consumers need (ShiftInwards tiles
// larger than a small plane or a few channels), and those extra values,
// never used, would otherwise read outside the inputs (a Halide bounds
// error, e.g. on a 3-channel layer under 16-channel tiles). The input
// tensor too: zero_outside clamps only its x and y. Hand schedules
// compute exactly what is needed and read the buffer directly.
template<typename Buffer>
Func input_reader(const Buffer &buffer, bool clamped, const std::string &name) {
    if (!clamped) return Func(buffer);
    Func f = Halide::BoundaryConditions::repeat_edge(buffer);
    Func named(name);
    named(Halide::_) = f(Halide::_);
    return named;
}

inline std::vector<Var> plane_args(const Vars &v) { return {v.x, v.y, v.c, v.n}; }
inline std::vector<Var> band_args(const Vars &v) { return {v.x, v.y, v.b, v.c, v.n}; }

// Haar (db1) analysis and synthesis use the same tap magnitude: the float32
// product of the float32 1-D tap 1/sqrt(2) with itself, exactly as the
// reference module forms its 2-D filters (it is 0.49999997f, not 0.5f).
inline float haar_tap() {
    const float r = static_cast<float>(0.70710678118654752440);
    return r * r;
}

// DWT with Haar taps folded to constants. `plane` is zero outside its valid
// region, so the odd-size padding of the reference needs no extra step.
inline Func haar_dwt(const Func &plane, const Vars &v, const std::string &name) {
    const Expr t = haar_tap();
    Expr a = plane(2 * v.x, 2 * v.y, v.c, v.n);
    Expr b = plane(2 * v.x + 1, 2 * v.y, v.c, v.n);
    Expr c = plane(2 * v.x, 2 * v.y + 1, v.c, v.n);
    Expr d = plane(2 * v.x + 1, 2 * v.y + 1, v.c, v.n);
    Func dwt(name);
    // Band order LL, LH (rows differ), HL (columns differ), HH.
    dwt(v.x, v.y, v.b, v.c, v.n) = t * Halide::mux(v.b, {(a + b) + (c + d), (a + b) - (c + d),
                                                         (a - b) + (c - d), (a - b) - (c - d)});
    return dwt;
}

// The channel whose weights and filters pixel (c, n) uses: c, unless the
// caller maps it (`wc`, an Expr in v.c and v.n; the functions below that
// read weights take it). The channels-last pipelines also run
// channel-blocked tensors, where image n holds one block of channels
// (wtconv_fused_generator.cpp).
inline Expr weight_channel(const Vars &v, const Expr &wc) { return wc.defined() ? wc : Expr(v.c); }

// DWT with any 2-D analysis filters: analysis(j, i, band, c) holds
// wt_filter[4c + band, 0, i, j], filter size F = taps, padding p = F/2 - 1.
inline Func general_dwt(const Func &plane, const Func &analysis, Expr taps, const Vars &v,
                        const std::string &name, Expr wc = Expr()) {
    Expr p = taps / 2 - 1;
    RDom r(0, taps, 0, taps, name + "_r");
    Func dwt(name);
    dwt(v.x, v.y, v.b, v.c, v.n) = 0.0f;
    dwt(v.x, v.y, v.b, v.c, v.n) +=
        analysis(r.x, r.y, v.b, weight_channel(v, wc)) * plane(2 * v.x + r.x - p, 2 * v.y + r.y - p, v.c, v.n);
    return dwt;
}

// The taps of a k x k stencil at output pixel (`col`, `row`) (of the
// source's grid): r.x runs over the taps of a row; `tap_row` and
// `source_row` are the taps row and the source row of r.y.
// Taps over rows of zero padding add nothing. Given the source's valid
// height `rows`, a predicate keeps only the taps rows whose source row is
// valid: Halide turns it into the bounds of the taps-row loop when that
// loop runs for one output row at a time (channels-last schedules), which
// skips most taps on 2- to 7-row planes. The source row is clamped into
// the valid rows (a no-op where the predicate holds), so bounds inference
// sees that an output row reads at most k valid rows and no padding row:
// the padded source arrays are not zero-filled there, and a source
// computed per strip of output rows covers the strip and its halo only.
// Left undefined, every tap is summed (schedules that unroll output rows
// inside the taps loops, where the predicate would become a branch per
// tap).
// Taps over columns of zero padding add nothing either. Given the
// source's valid width `cols` too, a second predicate keeps only the taps
// whose source column is valid. That one folds away only where the output
// column is a constant (plane variants, on levels whose pixel tile covers
// a whole row: schedules/cpu_schedules.h); elsewhere it would be a branch
// per tap.
struct TapLimits {
    Expr rows, cols;  // the source's valid height and width; undefined: every tap
};

struct StencilTaps {
    RDom r;
    Expr tap_row, source_row;
};

inline StencilTaps stencil_taps(Expr k, Expr col, Expr row, const TapLimits &limits, const std::string &name) {
    const Expr pad = (k - 1) / 2;
    const Expr rows = limits.rows;
    if (!rows.defined()) {
        RDom r(0, k, 0, k, name);
        return {r, r.y, row + r.y - pad};
    }
    RDom r(0, k, 0, k, name);
    const Expr source_row = row + r.y - pad;
    if (limits.cols.defined()) {
        const Expr source_col = col + r.x - pad;
        r.where(source_col >= 0 && source_col < limits.cols);
    }
    r.where(source_row >= 0 && source_row < rows);
    return {r, r.y, Halide::clamp(source_row, 0, rows - 1)};
}

// PyTorch padding='same' cross-correlation with a k x k depthwise kernel:
// (k - 1) / 2 before, the rest after. weights(kx, ky, ...) is indexed by the
// extra args (band and channel for band convs, channel for the base conv).
inline Func conv_same(const Func &src, const std::vector<Expr> &src_args_tail, const Func &weights,
                      const std::vector<Expr> &weight_args_tail, Expr k, const Vars &v,
                      const std::vector<Var> &out_args, const std::string &name,
                      const TapLimits &limits = TapLimits()) {
    Expr pad = (k - 1) / 2;
    const StencilTaps taps = stencil_taps(k, v.x, v.y, limits, name + "_r");
    const RDom &r = taps.r;
    std::vector<Expr> src_args = {v.x + r.x - pad, taps.source_row};
    src_args.insert(src_args.end(), src_args_tail.begin(), src_args_tail.end());
    std::vector<Expr> w_args = {r.x, taps.tap_row};
    w_args.insert(w_args.end(), weight_args_tail.begin(), weight_args_tail.end());
    Func conv(name);
    conv(out_args) = 0.0f;
    conv(out_args) += weights(w_args) * src(src_args);
    return conv;
}

// Band conv of one level: G_b = conv_same(D_b, weight[4c + b]) (scale folded in).
inline Func band_conv(const Func &bands, const Func &weights, Expr k, const Vars &v,
                      const std::string &name, const TapLimits &limits = TapLimits(), Expr wc = Expr()) {
    return conv_same(bands, {v.b, v.c, v.n}, weights, {v.b, weight_channel(v, wc)}, k, v,
                     {v.x, v.y, v.b, v.c, v.n}, name, limits);
}

// IDWT with Haar taps folded to constants: each output pixel takes the four
// bands of its 2x2 block with the signs of its position in the block. The
// Func is evaluated at pixel (x * stride, y * stride): the top level of a
// strided layer computes only the pixels the output keeps.
inline Func haar_idwt(const Func &z, const Vars &v, const std::string &name, Expr stride = 1) {
    const Expr t = haar_tap();
    Expr X = v.x * stride, Y = v.y * stride;
    Expr xs = X / 2, ys = Y / 2;
    Expr odd_x = (X % 2) == 1, odd_y = (Y % 2) == 1;
    Expr ll = z(xs, ys, 0, v.c, v.n), lh = z(xs, ys, 1, v.c, v.n);
    Expr hl = z(xs, ys, 2, v.c, v.n), hh = z(xs, ys, 3, v.c, v.n);
    Expr rows = Halide::select(odd_y, ll - lh, ll + lh);   // LH changes sign on odd rows
    Expr cols = Halide::select(odd_y, hl - hh, hl + hh);   // HH too
    Func idwt(name);
    idwt(v.x, v.y, v.c, v.n) = t * Halide::select(odd_x, rows - cols, rows + cols);
    return idwt;
}

// IDWT (grouped transposed conv, stride 2) with any 2-D synthesis filters:
// synthesis(j, i, band, c) holds iwt_filter[4c + band, 0, i, j]. Output (X, Y)
// takes taps i = (Y + p) % 2 + 2m, j = (X + p) % 2 + 2n from input pixel
// ((Y + p - i) / 2, (X + p - j) / 2). Evaluated at (x * stride, y * stride),
// as haar_idwt.
inline Func general_idwt(const Func &z, const Func &synthesis, Expr taps, const Vars &v,
                         const std::string &name, Expr stride = 1, Expr wc = Expr()) {
    Expr p = taps / 2 - 1;
    RDom r(0, taps / 2, 0, taps / 2, 0, 4, name + "_r");
    Expr X = v.x * stride, Y = v.y * stride;
    Expr px = (X + p) % 2, py = (Y + p) % 2;
    Func idwt(name);
    idwt(v.x, v.y, v.c, v.n) = 0.0f;
    idwt(v.x, v.y, v.c, v.n) +=
        synthesis(px + 2 * r.x, py + 2 * r.y, r.z, weight_channel(v, wc)) *
        z((X + p - px) / 2 - r.x, (Y + p - py) / 2 - r.y, r.z, v.c, v.n);
    return idwt;
}

// The base branch at the kept pixels of a stride-s output:
// base_scale * (conv_same(x, w) + bias), with the scale folded into w and bias.
inline Func strided_base_conv(const Func &input, const Func &weights, const Func &bias, Expr k,
                              Expr stride, const Vars &v, const std::string &name,
                              const TapLimits &limits = TapLimits(), Expr wc = Expr()) {
    const Expr channel = weight_channel(v, wc);
    Expr pad = (k - 1) / 2;
    const StencilTaps taps = stencil_taps(k, v.x * stride, v.y * stride, limits, name + "_r");
    const RDom &r = taps.r;
    Func base(name);
    base(v.x, v.y, v.c, v.n) = bias(channel);
    base(v.x, v.y, v.c, v.n) +=
        weights(r.x, taps.tap_row, channel) * input(v.x * stride + r.x - pad, taps.source_row, v.c, v.n);
    return base;
}

}  // namespace wtconv
