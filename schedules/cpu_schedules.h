// Hand-written CPU schedules, kept apart from the algorithm
// (generators/wtconv_algorithm.h). Each takes the Funcs a generator built
// and decides where and how they are computed.
//
// Fused pipeline: one (n, c) plane per parallel task; every stage of every
// level is computed inside that task, over its whole valid region, so the
// bands of all levels stay in cache and never go to memory.
#pragma once

#include "Halide.h"

#include "../generators/wtconv_algorithm.h"
#include "variant_limits.h"

#include <algorithm>
#include <vector>

namespace wtconv {

// The Funcs of the fused pipeline that a schedule places. Index l - 1 holds
// level l. `bands` and `z_masked` are the zero-padded arrays the band convs
// and IDWTs read.
struct FusedFuncs {
    Halide::Func output, base, input_padded;
    std::vector<Halide::Func> dwt, bands, band_conv, z_masked, idwt;
    // Haar fast path: the IDWT reads one pixel of each band (no halo), so
    // the masked sums z need no padded copy of their own.
    bool haar = false;
    // Plane width the variant is tuned for (generator parameter
    // typical_plane); other sizes run correctly with the same tiles.
    int typical_width = 56;
    // Output rows per strip (undefined: whole planes): levels 0 and 1 are
    // computed a strip at a time, and level 2 reads level 1's LL band from
    // `level_one_ll` (its DWT: `level_one_ll_dwt`) over the whole plane.
    // NCHW: the input's padded copy too, and level_one_ll is an array of
    // its own; channels-last large-plane variants read the input in place,
    // and level 2's DWT computes level_one_ll inline (in strips too when
    // level 2 is the last level: channels_last_strip_levels).
    Halide::Expr strip_rows;
    // Large-plane variants: the output's rows (for the row bands).
    Halide::Expr plane_rows;
    Halide::Func level_one_ll, level_one_ll_dwt;
    // Channels-last strips: how many levels are computed in them
    // (channels_last_strip_levels), and in huge-plane variants level 2's LL
    // band, which level 3 reads over the whole plane.
    size_t strip_levels = 0;
    Halide::Func level_two_ll;
    // Channel-blocked large-plane variants: the token of the prefetch call
    // per output tile (the generator's prefetch_ahead), or undefined.
    Halide::Func prefetch_ahead;
    // The kernel size k (a run-time value): the Haar schedules give the
    // convs a copy for k == kUnrolledKernel with taps unrolled.
    Halide::Expr kernel;
    // Plane and large-plane variants: stride 1 only, and planes of
    // typical_width x typical_width pixels or of more than
    // kChannelsLastStripMinPixels (generators/CMakeLists.txt).
    bool stride_one_only = false;
};

// Output rows per strip of the NCHW pipeline on planes of more than
// kStripMinPixels pixels. Every array of levels 0 and 1 is computed for one
// strip (plus the halo its stencils need), so a 512 x 512 plane's level-0
// and level-1 arrays take about 0.3 MB instead of 5 MB and stay in L2; the
// halo costs 8 input rows and 4 band rows per strip. Smaller planes run as
// one strip (PERFORMANCE.md, step 20: 256 x 256 and below gain nothing).
constexpr int kStripRows = 32;
constexpr int kStripMinPixels = 1 << 17;

// The channels-last large-plane variants (Haar), which the runtime runs
// planes of more than kChannelsLastStripMinPixels pixels through, compute
// levels 0 and 1 a strip of output rows at a time: level 1's bands and
// band convs and the base conv stay in L2 (and each output tile's base
// conv in registers), where the whole-plane arrays of a 16-channel task
// (3.2 MB of input at 224 x 224, 17 MB at 512 x 512) do not fit in a
// core's 2 MB. They read the input in place: a padded copy was one more
// pass through memory. Strips of 4 rows: level 1's bands slide along
// them (each strip computes its 2 new band rows; the rows its band convs
// share with the strip before stay in a ring of
// channels_last_band_ring_rows), so the input's first reads come a few
// rows at a time between the convs (512 x 512 0.93-0.95 of 8-row strips
// without the ring, 224 x 224 the same as 16-row ones; PERFORMANCE.md,
// step 35). The strip height is a constant: Halide proves the sliding
// window's rows monotonic only so. Two-level layers compute level 2 in
// the strips too (channels_last_strip_levels).
constexpr int kChannelsLastStripRows = 4;

// The tasks of the large-plane variants are bands of rows: each channel
// block's plane in kChannelsLastRowBands bands of whole strips, each band
// with its own ring and its own pass for the whole-plane levels (over its
// rows and their halo). A 16-channel layer then has two tasks, not one
// that left the second thread idle (1x16x1024x1024 0.65 of one band), and
// the tasks of 32 and 64 channels are small enough to even out between
// two threads whose speed varies (512 x 512 0.90-0.97, 224 x 224
// 0.91-0.96). Four bands were no faster than two (PERFORMANCE.md, step 47).
constexpr int kChannelsLastRowBands = 2;

// The levels the large-plane variants compute in strips: level 1, and with
// two levels level 2 too (its bands sliding along the strips like level
// 1's, from the input through level 1's LL band inline), which leaves no
// pass over the whole plane: 0.91 of level 1 alone at 512 x 512, 0.95 at
// 224 x 224 (PERFORMANCE.md, step 38). With more levels, level 3 reads
// level 2's LL band over the whole plane, a pass over the input of its
// own, and level 2 in strips gained nothing on planes up to 1280 x 1280
// (0.97-1.06); the huge-plane variants (generator parameter huge_planes)
// take it for larger ones (step 39).
inline size_t channels_last_strip_levels(int levels, bool huge_planes) {
    return size_t(std::min(levels, huge_planes || levels <= 2 ? 2 : 1));
}

// The rows of a level's bands that the band convs of one strip read (the
// strip's band rows and k - 1 halo rows), as a ring: 8 for k <= 5 (a power
// of two), enough for any k otherwise.
inline Halide::Expr channels_last_band_ring_rows(const Halide::Expr &kernel) {
    return Halide::select(kernel <= kUnrolledKernel, 8, kChannelsLastStripRows / 2 + kernel + 1);
}

inline void vectorize_pure_and_updates(Halide::Func f, const Halide::Var &x, int width) {
    f.vectorize(x, width, Halide::TailStrategy::RoundUp);
    for (int u = 0; u < f.num_update_definitions(); u++) {
        f.update(u).vectorize(x, width, Halide::TailStrategy::RoundUp);
    }
}

// Computed once per plane (or strip), over the region its consumers need.
inline void per_plane(Halide::Func f, const Halide::LoopLevel &at, const Halide::Var &x, int width) {
    f.compute_at(at);
    vectorize_pure_and_updates(f, x, width);
}

// The kernel size whose taps the Haar convs unroll (k = 5: WTConvNeXt's,
// and the module's default); other k run the taps loops. With the taps
// unrolled, LLVM loads each input vector once and feeds every tap that
// reads it.
// - Channels-last: the taps row is unrolled (pixels + 4 loads per taps row
//   instead of 5 x pixels). 8-28 % faster per forward on the WTConvNeXt-T
//   stages, about twice the compile time of a Haar channels-last variant
//   (PERFORMANCE.md, step 21).
// - NCHW: all k x k taps of the base conv and of levels 1 and 2
//   (kUnrolledNchwLevels), so each shifted vector of an input row feeds the
//   up to kStencilRows output rows that read it (0.65 loads per FMA instead
//   of 1.25). 11-20 % faster at 224 x 224 and 512 x 512; deeper levels'
//   planes are small, and unrolling them too doubled the compile time for
//   no measurable gain (PERFORMANCE.md, step 23).
// The general path keeps the loops: its 8 level counts would double the
// largest part of the build. (kUnrolledKernel: variant_limits.h.)
constexpr int kUnrolledNchwLevels = 2;

// Gives a channels-last conv's update a copy for k == kUnrolledKernel with
// its taps row (the first reduction variable) unrolled. `when`, if given, adds a
// condition (specializations are tried in order: call this before the
// conv's other specializations).
inline void unroll_taps_row_for_k5(Halide::Func conv, const Halide::Expr &kernel,
                                   const Halide::Expr &when = Halide::Expr()) {
    const Halide::Expr k5 = kernel == kUnrolledKernel;
    conv.update(0).specialize(when.defined() ? (when && k5) : k5).unroll(conv.rvars(0)[0]);
}

// Gives an NCHW conv's update a copy for k == kUnrolledKernel with every tap
// unrolled.
inline void unroll_all_taps_for_k5(Halide::Func conv, const Halide::Expr &kernel) {
    conv.update(0).specialize(kernel == kUnrolledKernel).unroll(conv.rvars(0)[0]).unroll(conv.rvars(0)[1]);
}

// Stencil reductions along width vectors: a tile of `kStencilRows` rows of
// one vector accumulates in registers (a constant-size stack tile that the
// compiler promotes), so each tap's weight feeds that many independent FMA
// chains instead of one chain that waits out the FMA latency at every tap.
// `stored` is the plane-sized array the consumers read, written once per
// tile. Its splits round the region up (a few extra zero-input pixels), so
// no guard breaks the chains.
constexpr int kStencilRows = 4;

inline void rows_in_registers(Halide::Func conv, Halide::Func stored, const Vars &v, int width) {
    using Halide::TailStrategy;
    Halide::Var xo("xo"), xi("xi"), yo("yo"), yi("yi");
    const bool bands = conv.dimensions() == 5;
    stored.split(v.x, xo, xi, width, TailStrategy::RoundUp)
        .split(v.y, yo, yi, kStencilRows, TailStrategy::RoundUp)
        .vectorize(xi)
        .unroll(yi);
    if (bands) {
        stored.bound(v.b, 0, 4).reorder(xi, yi, xo, yo, v.b);
    } else {
        stored.reorder(xi, yi, xo, yo);
    }
    conv.compute_at(stored, xo).store_in(Halide::MemoryType::Stack);
    conv.vectorize(v.x).unroll(v.y);
    std::vector<Halide::VarOrRVar> order = {v.x, v.y};
    for (const Halide::RVar &r : conv.rvars(0)) order.emplace_back(r);
    conv.update(0).reorder(order).vectorize(v.x).unroll(v.y);
}

inline void schedule_fused_cpu(FusedFuncs &f, const Vars &v, const Halide::Expr &stride,
                               const Halide::Target &target) {
    using Halide::TailStrategy;
    const int natural = target.natural_vector_size<float>();
    Halide::Var cn("cn"), xo("xo"), xi("xi"), yo("yo"), yi("yi");
    f.output.fuse(v.c, v.n, cn).parallel(cn);
    f.output.split(v.x, xo, xi, natural, TailStrategy::GuardWithIf).vectorize(xi);
    const Halide::LoopLevel plane(f.output, cn);
    Halide::LoopLevel strip = plane;
    if (f.strip_rows.defined()) {
        f.output.split(v.y, yo, yi, f.strip_rows, TailStrategy::GuardWithIf);
        strip = Halide::LoopLevel(f.output, yo);
    }
    // Stride 1 (nearly every layer) gets dense loads; other strides gather.
    f.output.specialize(stride == 1);

    // The base conv over the (strided) output strip.
    Halide::Func base_plane = f.base.in();
    base_plane.compute_at(strip);
    rows_in_registers(f.base, base_plane, v, natural);
    if (f.haar) unroll_all_taps_for_k5(f.base, f.kernel);
    f.base.update(0).specialize(stride == 1);

    // Every array a stencil reads is stored zero-padded, so the hot loops
    // read plain memory instead of clamped (gathered) coordinates.
    per_plane(f.input_padded, strip, v.x, natural);
    if (f.level_one_ll.defined()) {
        per_plane(f.level_one_ll, plane, v.x, natural);
        if (f.level_one_ll_dwt.has_update_definition()) {
            per_plane(f.level_one_ll_dwt, plane, v.x, natural);
            f.level_one_ll_dwt.bound(v.b, 0, 1);
        }
    }
    for (size_t i = 0; i < f.dwt.size(); i++) {
        const Halide::LoopLevel &at = i == 0 ? strip : plane;
        // Full vectors at every level: the NCHW pipeline runs large planes
        // (small dense ones go through channels-last, step 15), where even
        // level 3 or 4 is 28+ wide. Narrower vectors on deep levels cost
        // 11-15 % at 224 x 224 and 512 x 512 (PERFORMANCE.md, step 16).
        const int width = natural;
        // The DWT over the level's valid region (no clamps in its loads),
        // then its zero-padded copy. Both compute the four bands of a
        // vector of pixels together (bands innermost, unrolled; for Haar
        // the mux over bands folds away): one pass over the plane that
        // loads each input vector once, instead of one pass per band
        // (224 x 224 and 512 x 512 5-8 % faster, PERFORMANCE.md step 25).
        per_plane(f.dwt[i], at, v.x, width);
        f.dwt[i].bound(v.b, 0, 4).reorder(v.b, v.x, v.y).unroll(v.b);
        per_plane(f.bands[i], at, v.x, width);
        f.bands[i].bound(v.b, 0, 4).reorder(v.b, v.x, v.y).unroll(v.b);
        Halide::Func band_conv_plane = f.band_conv[i].in();
        band_conv_plane.compute_at(at);
        rows_in_registers(f.band_conv[i], band_conv_plane, v, width);
        if (f.haar && int(i) < kUnrolledNchwLevels) unroll_all_taps_for_k5(f.band_conv[i], f.kernel);
        if (f.haar) {
            // The Haar IDWT reads one pixel of each band (no halo): the
            // masked sums stay inline, and level 1's IDWT is computed in
            // the output.
            if (i > 0) per_plane(f.idwt[i], at, v.x, natural);
            continue;
        }
        per_plane(f.z_masked[i], at, v.x, width);
        f.z_masked[i].bound(v.b, 0, 4).reorder(v.x, v.y, v.b);
        per_plane(f.idwt[i], at, v.x, natural);
    }
}

// Channels-last (NHWC): vectors run along channels, so every stage is dense
// whatever the plane size (deep levels are 1 to 4 pixels wide, which
// width-vectors waste). One parallel task is a block of channels of one
// image; inside it every array of every level is stored channels-innermost
// over its whole (padded) plane.
// The stencil reductions (convs) accumulate a tile of neighbouring pixels
// side by side inside the taps loops (`pixel_tile`). Each tap's weight
// vector then feeds that many independent FMA chains held in registers,
// instead of one chain that waits out the FMA latency at every tap. The
// split rounds the computed width up (a few extra zero-input pixels), so no
// guard breaks the chains.
constexpr int kStencilPixels = 8;

// The pixel tile for a level of width `width` on the plane a variant is
// tuned for: 8 pixels, or 7 where 7 divides the width and 8 does not (the
// WTConvNeXt planes are 7 x 2^k wide: 8-pixel tiles computed 32 pixels of a
// 28-wide row and 16 of a 14-wide one). 3-8 % faster on the four stages;
// planes of other widths run the same tiles (32x32 at 4 levels and 64x64 at
// 5 are 8-11 % slower; PERFORMANCE.md, step 27). Levels
// narrower than a full tile take half of one: 8 pixels on a 4-wide level
// would be mostly padding.
inline int pixel_tile(int width) {
    if (width % kStencilPixels == 0) return kStencilPixels;
    if (width % (kStencilPixels - 1) == 0) return kStencilPixels - 1;
    return width >= kStencilPixels - 1 ? kStencilPixels : kStencilPixels / 2;
}

// The pixel tile of a channels-last stencil at `level` (0: the base conv)
// of a variant tuned for `typical_width`: pixel_tile of the level's typical
// width, or, on levels at most 2 wide, 2 pixels of all four bands (4 pixels
// of one band wasted half the tile there; 7x7 stages 5-8 % faster,
// PERFORMANCE.md, step 24).
inline bool all_band_tiles(int typical_width, int level) { return level > 0 && (typical_width >> level) <= 2; }

inline int channels_last_tile(int typical_width, int level) {
    return all_band_tiles(typical_width, level) ? 2 : pixel_tile(typical_width >> level);
}

// A channels-last task's channels are whole cache lines (kLineFloats
// floats, 64 bytes), never part of one: with tasks of one AVX2 vector (8
// channels) the two threads wrote the two halves of each output line at
// the same time (tasks 2i and 2i + 1 run side by side), and the output's
// stores took 15 % of an 8x96x56x56 forward (PERFORMANCE.md, step 45).
// One line is one AVX-512 vector, two AVX2 vectors, four SSE or NEON ones.
constexpr int kLineFloats = 16;

// Planes of at most kSmallPlaneWidth^2 pixels (the 7x7 and 14x14 stages of
// WTConvNeXt) run tasks of two channel vectors in the Haar variants tuned
// for such planes (stride 1): a task's dozen small loop nests over 2- to
// 7-wide levels cost about as much as its convs, and two vectors per task
// halve their count. 5-18 % faster at 7x7 and 14x14 on two threads; four
// vectors were slower, and two are slower on 28x28 and larger planes
// (PERFORMANCE.md, step 26). The copy makes these variants compile 2-2.6x
// longer.
constexpr int kSmallPlaneWidth = 16;

// The channel vectors of a channels-last task: one line, or in the Haar
// variants tuned for small planes at least two vectors.
inline int channels_last_line_vectors(const Halide::Target &target) {
    return std::max(1, kLineFloats / target.natural_vector_size<float>());
}
inline int channels_last_task_vectors(const Halide::Target &target, bool haar, int typical_width, bool strips) {
    const bool small_plane_tasks = haar && typical_width <= kSmallPlaneWidth && !strips;
    return std::max(channels_last_line_vectors(target), small_plane_tasks ? 2 : 1);
}

// The most accumulator vectors a conv's register tile holds: with 32
// vector registers (AVX-512, NEON) 16; with 16 (AVX2, SSE) 8, which leaves
// registers for the weights and the inputs each taps row loads. On AVX2,
// 14 (7-pixel tiles of two vectors) spilled: 1.5-1.9x slower on the 56x56
// and 28x28 stages, and no faster on 7x7 (PERFORMANCE.md, step 45).
inline int accumulator_budget(const Halide::Target &target) {
    const bool sixteen_registers = target.arch == Halide::Target::X86 && !target.has_feature(Halide::Target::AVX512);
    return sixteen_registers ? 8 : 16;
}

// channels_last_tile within the accumulator budget, for tasks of
// `task_vectors` channel vectors: the largest tile that fits, preferring
// one that divides the level's typical width (the RoundUp split then
// computes no padding).
inline int channels_last_register_tile(int typical_width, int level, int task_vectors, const Halide::Target &target) {
    const int tile = channels_last_tile(typical_width, level);
    const int vectors = task_vectors * (all_band_tiles(typical_width, level) ? 4 : 1);
    const int most = std::max(1, accumulator_budget(target) / vectors);
    if (tile <= most) return tile;
    const int width = std::max(1, typical_width >> level);
    for (int t = most; t > most / 2; t--) {
        if (width % t == 0) return t;
    }
    return most;
}

// Tasks per parallel iteration in the variants tuned for small planes: a
// 7x7 task of one channel vector takes about a microsecond, and Halide's
// thread pool takes a lock per iteration (12 % of an 8x768x7x7 forward in
// halide_mutex_lock, 17 % in the pool). Up to 8 tasks per iteration on 7x7
// planes (0.86-0.88 of the time) and 4 on 14x14 (0.96-0.97); 8 on 14x14
// was slower. At least kMinTaskGroups iterations stay, so that batch-1
// layers keep the threads busy (PERFORMANCE.md, step 34).
constexpr int kMinTaskGroups = 16;

inline int max_task_group(int typical_width) { return typical_width <= 7 ? 8 : typical_width <= 14 ? 4 : 1; }

// How a channels-last stage vectorizes its channels: `width` lanes, and,
// in variants whose small-plane tasks hold several channel vectors
// (kSmallPlaneWidth), the loop over those vectors unrolled so that each
// pixel computes them all (elsewhere that loop runs once).
struct ChannelVectors {
    int width;
    bool several;

    void apply(Halide::Stage s, const Halide::Var &c) const {
        s.vectorize(c, width, Halide::TailStrategy::GuardWithIf);
        if (several) s.unroll(c);
    }
};

inline void vectorize_channels(Halide::Func f, const Vars &v, const ChannelVectors &vectors) {
    using Halide::TailStrategy;
    const bool bands = f.dimensions() == 5;
    if (bands) {
        f.reorder_storage(v.c, v.x, v.y, v.b, v.n).reorder(v.c, v.x, v.y, v.b).bound(v.b, 0, 4);
    } else {
        f.reorder_storage(v.c, v.x, v.y, v.n).reorder(v.c, v.x, v.y);
    }
    vectors.apply(f, v.c);
    for (int u = 0; u < f.num_update_definitions(); u++) {
        // Reductions (the general DWT): the taps loop inside each pixel,
        // around one accumulator vector.
        std::vector<Halide::VarOrRVar> order = {v.c};
        for (const Halide::RVar &r : f.rvars(u)) order.emplace_back(r);
        order.emplace_back(v.x);
        order.emplace_back(v.y);
        if (bands) order.emplace_back(v.b);
        f.update(u).reorder(order);
        vectors.apply(f.update(u), v.c);
    }
}

// A channels-last stencil reduction in tiles of `pixels` neighbouring
// pixels of one channel vector (and, with `all_bands`, of all four bands of
// a band conv): each tile's sums start, accumulate and stay in registers,
// and are written once into the array the consumers read (a wrapper
// computed at `compute`, stored at `store`). Stored directly, the
// reduction's initial value was a pass of its own over the array (a memset)
// and each tile's sums were loaded back from it: 4-8 % of a forward
// (PERFORMANCE.md, step 22).
// With `vector_tiles` (tasks of several channel vectors, one band at a
// time), a tile is `pixels` pixels of one channel vector, and the task's
// vectors take their tiles one after another: for the same registers, twice
// the pixels of a tile of both AVX2 vectors, so each taps row loads fewer
// input vectors per FMA (8 pixels: 12 loads for 40 FMAs, against 8 for 20).
inline void accumulate_in_registers(Halide::Func conv, const Halide::LoopLevel &compute, const Halide::LoopLevel &store,
                                    const Vars &v, const ChannelVectors &vectors, int pixels, bool all_bands = false,
                                    bool vector_tiles = false) {
    using Halide::TailStrategy;
    const bool bands = conv.dimensions() == 5;
    Halide::Func stored = conv.in();
    stored.compute_at(compute).store_at(store);
    Halide::Var xo("xo"), xi("xi");
    if (bands) {
        stored.reorder_storage(v.c, v.x, v.y, v.b, v.n).bound(v.b, 0, 4).reorder(v.c, v.x, v.y, v.b);
        conv.reorder_storage(v.c, v.x, v.y, v.b, v.n);
    } else {
        stored.reorder_storage(v.c, v.x, v.y, v.n).reorder(v.c, v.x, v.y);
        conv.reorder_storage(v.c, v.x, v.y, v.n);
    }
    stored.split(v.x, xo, xi, pixels, TailStrategy::RoundUp);
    // The tile's sums: one vector per pixel with vector_tiles, else every
    // vector of the task.
    const bool one_vector = vector_tiles && vectors.several && !all_bands;
    const ChannelVectors tile_vectors = one_vector ? ChannelVectors{vectors.width, false} : vectors;
    Halide::Var cv("cv"), cl("cl");
    if (one_vector) {
        stored.split(v.c, cv, cl, vectors.width, TailStrategy::GuardWithIf).reorder(cl, xi, cv, xo).vectorize(cl);
        conv.reorder(v.c, v.x);
    } else if (all_bands) {
        stored.reorder(v.c, xi, v.b, xo, v.y).unroll(v.b);
        conv.reorder(v.c, v.x, v.b).unroll(v.b);
    } else {
        stored.reorder(v.c, xi, xo);
        conv.reorder(v.c, v.x);
    }
    if (!one_vector) vectors.apply(stored, v.c);
    stored.unroll(xi);
    conv.compute_at(stored, one_vector ? cv : xo).store_in(Halide::MemoryType::Stack);
    tile_vectors.apply(conv, v.c);
    conv.unroll(v.x);
    std::vector<Halide::VarOrRVar> order = {v.c, v.x};
    if (all_bands) order.emplace_back(v.b);
    for (const Halide::RVar &r : conv.rvars(0)) order.emplace_back(r);
    Halide::Stage update = conv.update(0);
    update.reorder(order);
    tile_vectors.apply(update, v.c);
    update.unroll(v.x);
    if (all_bands) update.unroll(v.b);
}

inline void schedule_fused_cpu_channels_last(FusedFuncs &f, const Vars &v, const Halide::Expr &channels,
                                             const Halide::Expr &images, const Halide::Expr &plane_pixels,
                                             const Halide::Expr &stride, const Halide::Target &target) {
    using Halide::TailStrategy;
    const int natural = target.natural_vector_size<float>();
    Halide::Var co("co"), ci("ci"), task("task"), group("group");
    Halide::Var xo("xo"), xi("xi"), yo("yo"), yi("yi"), xt("xt"), xr("xr");
    const bool strips = f.strip_rows.defined();
    Halide::Var yb("yb");
    // Full channel blocks, the last one shifted inwards: every scratch array
    // then has a constant channel extent. Layers with fewer channels than a
    // vector run the NCHW pipeline instead (the runtime sends them there,
    // kChannelsLastMinChannels): a guarded copy of every loop nest for them
    // doubled this pipeline's compile time.
    // Stride 1: output pixels in pairs, so that each copy of the pair has a
    // known column parity (the pipeline's tensors start at 0) and the Haar
    // IDWT's sign selects and index halving fold away.
    auto tasks_of = [&](Halide::Stage s, int channels_per_task, bool pixel_pairs) {
        if (strips) {
            // Large planes: a task is a band of rows (kChannelsLastRowBands)
            // of a channel block, whole strips each.
            const Halide::Expr band_rows = (f.plane_rows + kChannelsLastRowBands * f.strip_rows - 1) /
                                           (kChannelsLastRowBands * f.strip_rows) * f.strip_rows;
            s.split(v.c, co, ci, channels_per_task, TailStrategy::ShiftInwards)
                .split(v.y, yb, v.y, band_rows, TailStrategy::GuardWithIf)
                .reorder(ci, v.x, v.y, yb, co, v.n)
                .fuse(co, v.n, task)
                .fuse(yb, task, task);
        } else {
            s.split(v.c, co, ci, channels_per_task, TailStrategy::ShiftInwards)
                .reorder(ci, v.x, v.y, co, v.n)
                .fuse(co, v.n, task);
        }
        const int most = max_task_group(f.typical_width);
        if (most > 1) {
            const Halide::Expr tasks = (channels + channels_per_task - 1) / channels_per_task * images;
            const Halide::Expr group_size = Halide::clamp(tasks / kMinTaskGroups, 1, most);
            s.split(task, group, task, group_size, TailStrategy::GuardWithIf).parallel(group);
        } else {
            s.parallel(task);
        }
        // One vector: ci is exactly one (splitting it anyway, though the
        // split is exact, made the general variants compile 1.5-3x longer).
        if (channels_per_task > natural) {
            s.vectorize(ci, natural).unroll(ci);
        } else {
            s.vectorize(ci);
        }
        if (strips) {
            // Strips of rows, tiles of kStencilPixels pixels in pairs:
            // each tile's base conv is computed right before the tile's
            // output (below), so the output's stores drain while the
            // next tile's convolution runs.
            s.split(v.x, xt, xr, kStencilPixels, TailStrategy::GuardWithIf)
                .split(xr, xo, xi, 2, TailStrategy::GuardWithIf)
                .reorder(ci, xi, xo, xt, v.y)
                .unroll(xi)
                .split(v.y, yo, yi, f.strip_rows, TailStrategy::GuardWithIf);
        } else if (pixel_pairs) {
            s.split(v.x, xo, xi, 2, TailStrategy::GuardWithIf).reorder(ci, xi, xo, v.y).unroll(xi);
        }
    };
    // Tasks of one cache line of channels (kLineFloats), and in the
    // variants tuned for small planes of task_vectors (more than a line
    // only where a line is one vector). (Large-plane variants never run
    // small planes.)
    const int task_vectors = channels_last_task_vectors(target, f.haar, f.typical_width, strips);
    const int line = channels_last_line_vectors(target) * natural;
    const ChannelVectors vectors{natural, task_vectors > 1};
    if (task_vectors * natural > line) {
        tasks_of(f.output.specialize(channels >= task_vectors * natural && stride == 1 &&
                                     plane_pixels <= kSmallPlaneWidth * kSmallPlaneWidth),
                 task_vectors * natural, true);
    }
    tasks_of(f.output.specialize(channels >= line && stride == 1), line, true);
    if (!f.stride_one_only) tasks_of(f.output.specialize(channels >= line), line, false);
    f.output.specialize_fail("wtconv_fused (channels-last): fewer channels than one cache line (16); "
                             "the runtime runs such layers through the NCHW pipeline");
    // Register tiles within the accumulator budget (channels_last_register_tile).
    // Large planes: tiles of one channel vector (accumulate_in_registers'
    // vector_tiles), 8 pixels on AVX2 instead of 4 pixels of both vectors:
    // 0.95-0.98 at 512 x 512 and 224 x 224 (PERFORMANCE.md, step 49).
    const bool vector_tiles = strips;
    auto register_tile = [&](int level) {
        return channels_last_register_tile(f.typical_width, level, vector_tiles ? 1 : task_vectors, target);
    };

    // The base conv of one output row (its storage allocated once per
    // task), or in strips of one output tile.
    const Halide::LoopLevel per_task(f.output, task);
    const Halide::LoopLevel per_strip = strips ? Halide::LoopLevel(f.output, yo) : per_task;
    if (strips) {
        const Halide::LoopLevel per_tile(f.output, xt);
        accumulate_in_registers(f.base, per_tile, per_tile, v, vectors,
                                std::min(kStencilPixels, register_tile(0)), false, vector_tiles);
        // A tile's sums (kStencilPixels pixels of one channel vector) on the
        // stack: their size is a min() of the row's remaining pixels, which
        // put them on the heap, one allocation per tile (16 384 per 512 x
        // 512 forward; PERFORMANCE.md, step 41).
        f.base.in().store_in(Halide::MemoryType::Stack);
        if (f.prefetch_ahead.defined()) f.prefetch_ahead.compute_at(per_tile).store_in(Halide::MemoryType::Stack);
    } else {
        accumulate_in_registers(f.base, Halide::LoopLevel(f.output, v.y), per_task, v, vectors, register_tile(0));
    }
    // Stride 1: neighbouring pixels at constant offsets (otherwise the
    // unrolled pixels' addresses are computed, and vectorized, one by one).
    if (f.haar) unroll_taps_row_for_k5(f.base, f.kernel, stride == 1);
    f.base.update(0).specialize(stride == 1);

    // Weights arrive channels-innermost (the generator's constraint), so they
    // stay inline: a channel vector loads one tap of consecutive channels.
    // Every array a stencil reads is stored zero-padded per task (level 1's
    // bands: per strip). Plane and large-plane variants read the input in
    // place (`input_padded` undefined: see the generator). A Haar DWT (no
    // reduction) is computed straight into its padded array.
    auto computed_at = [&](Halide::Func g, const Halide::LoopLevel &at) {
        g.compute_at(at);
        vectorize_channels(g, v, vectors);
    };
    auto once_per_task = [&](Halide::Func g) { computed_at(g, per_task); };
    if (f.input_padded.defined()) once_per_task(f.input_padded);
    // level_one_ll stays inline: level 2's DWT computes level 1's LL band
    // from the input as it reads it, so no array of it is written and read
    // back (224 x 224 and 512 x 512 0.97; PERFORMANCE.md, step 35).
    // Huge-plane variants: level 2's LL band, which level 3 reads over the
    // whole plane, is an array per task (computed from the input).
    if (f.level_two_ll.defined()) once_per_task(f.level_two_ll);
    const size_t strip_levels = strips ? f.strip_levels : 0;
    for (size_t i = 0; i < f.dwt.size(); i++) {
        // The levels in strips compute their bands per strip, sliding along
        // the strips in a ring (the next level reads level_one_ll or
        // level_two_ll, not these).
        const bool in_strips = i < strip_levels;
        const Halide::LoopLevel &bands_at = in_strips ? per_strip : per_task;
        if (f.dwt[i].has_update_definition()) computed_at(f.dwt[i], bands_at);
        computed_at(f.bands[i], bands_at);
        if (in_strips) {
            f.bands[i].store_at(per_task).fold_storage(v.y, channels_last_band_ring_rows(f.kernel));
        }
        // Haar: the four bands of a pixel come from the same four input
        // pixels; computed together, they share those loads.
        if (f.haar) f.bands[i].reorder(v.c, v.b, v.x, v.y).unroll(v.b);
        // Tiles sized for the level's typical width (channels_last_register_tile).
        // The sums of a level in strips feed only the IDWT of the strip.
        const int level = int(i) + 1;
        Halide::LoopLevel at = in_strips ? per_strip : per_task;
        // The whole-plane levels of the large-plane variants (Haar) compute
        // their band convs a row at a time, inside the IDWT's loop over its
        // row pairs: the sums go from registers to the IDWT through a row
        // in L1 instead of a whole-plane array through L3 (4 MB a task at
        // 512 x 512). 0.95-0.97 at 512 x 512, 0.95 at 1024 x 1024, 0.99-1.0
        // at 224 x 224 (PERFORMANCE.md, step 40).
        const bool conv_by_rows = strips && f.haar && !in_strips;
        if (conv_by_rows) {
            computed_at(f.idwt[i], per_task);
            Halide::Var row_pair("row_pair"), in_pair("in_pair");
            f.idwt[i].split(v.y, row_pair, in_pair, 2, TailStrategy::RoundUp);
            at = Halide::LoopLevel(f.idwt[i], row_pair);
        }
        accumulate_in_registers(f.band_conv[i], at, at, v, vectors, register_tile(level),
                                all_band_tiles(f.typical_width, level), vector_tiles);
        if (f.haar) unroll_taps_row_for_k5(f.band_conv[i], f.kernel);
        if (f.haar) {
            // The masked sums stay inline in the IDWT, and level 1's IDWT in
            // the output: no copies of the level's planes.
            if (i > 0 && !conv_by_rows) computed_at(f.idwt[i], at);
        } else {
            once_per_task(f.z_masked[i]);
            once_per_task(f.idwt[i]);
        }
    }
}

// Pixel tiles per parallel task of the repack to channels-last: a task of
// one tile (a vector of pixels by all channels) took longer to hand out
// than to run. 8 tiles: 0.64-0.89 of one tile's time on the stage shapes,
// 0.36 on a 512 x 512 plane of 16 channels (PERFORMANCE.md, step 44).
constexpr int kRepackTilesPerTask = 8;

// Repack between NCHW and channels-last, as a (pixel, c, n) transpose:
// square tiles of one vector of pixels by one vector of channels, read
// along the source's contiguous dimension into registers and written along
// the destination's, so the transpose is register shuffles, not gathers.
// Each parallel task writes one contiguous stretch of the destination (a
// run of kRepackTilesPerTask tiles' pixels in channels-last, a block of
// whole planes in NCHW): tasks interleaved within the same planes ran 2-5x
// slower on two threads, and NCHW tasks of part of a plane (runs of 32
// tiles) 1.1-1.6x slower than whole planes.
// The tiles are shifted inwards at the edges: both the pixel and channel
// extents must be at least one vector (the runtime repacks only such tensors).
inline void schedule_repack_cpu(Halide::Func output, Halide::Func read, const Halide::Var &pixel,
                                const Halide::Var &c, const Halide::Var &n, bool to_channels_last,
                                const Halide::Target &target) {
    using Halide::TailStrategy;
    const int V = target.natural_vector_size<float>();
    Halide::Var po("po"), pi("pi"), co("co"), ci("ci"), pt("pt"), task("task");
    output.tile(pixel, c, po, co, pi, ci, V, V, TailStrategy::ShiftInwards);
    if (to_channels_last) {
        output.reorder(ci, pi, co, po, n)
            .vectorize(ci)
            .unroll(pi)
            .split(po, pt, po, kRepackTilesPerTask, TailStrategy::GuardWithIf)
            .fuse(pt, n, task)
            .parallel(task);
        read.compute_at(output, co);
    } else {
        output.reorder(pi, ci, po, co, n).vectorize(pi).unroll(ci).fuse(co, n, task).parallel(task);
        read.compute_at(output, po);
    }
    read.store_in(Halide::MemoryType::Register);
    if (to_channels_last) {
        read.vectorize(pixel).unroll(c);
    } else {
        read.vectorize(c).unroll(pixel);
    }
}

// One stage alone (the staged baseline and per-stage tests): parallel over
// planes (n, c fused), vectorized along width; `per_plane` Funcs (padded
// inputs, reductions) are computed once per plane.
inline void schedule_stage_cpu(Halide::Func output, const std::vector<Halide::Func> &per_plane,
                               const Vars &v, const Halide::Target &target) {
    const int natural = target.natural_vector_size<float>();
    Halide::Var cn("cn");
    output.fuse(v.c, v.n, cn).parallel(cn).vectorize(v.x, natural, Halide::TailStrategy::GuardWithIf);
    for (Halide::Func f : per_plane) {
        f.compute_at(output, cn);
        vectorize_pure_and_updates(f, v.x, natural);
    }
}

}  // namespace wtconv
