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

#include <algorithm>
#include <vector>

namespace wtconv {

// The Funcs of the fused pipeline that a schedule places. Index l - 1 holds
// level l.
struct FusedFuncs {
    Halide::Func output, base, input_padded;
    std::vector<Halide::Func> dwt, band_conv, idwt;
};

// Vectors no wider than a level typically is: deep levels are a few pixels
// wide, and lanes past the level's extent are wasted work.
inline int level_vector_width(int natural, int level) {
    return std::max(4, natural >> std::max(0, level - 1));
}

inline void vectorize_pure_and_updates(Halide::Func f, const Halide::Var &x, int width) {
    f.vectorize(x, width, Halide::TailStrategy::RoundUp);
    for (int u = 0; u < f.num_update_definitions(); u++) {
        f.update(u).vectorize(x, width, Halide::TailStrategy::RoundUp);
    }
}

inline void schedule_fused_cpu(FusedFuncs &f, const Vars &v, const Halide::Target &target) {
    using Halide::TailStrategy;
    const int natural = target.natural_vector_size<float>();
    Halide::Var cn("cn");
    f.output.fuse(v.c, v.n, cn).parallel(cn);
    f.output.vectorize(v.x, natural, TailStrategy::GuardWithIf);

    f.base.compute_at(f.output, v.y);
    f.base.vectorize(v.x, natural, TailStrategy::GuardWithIf);
    f.base.update().vectorize(v.x, natural, TailStrategy::GuardWithIf);

    f.input_padded.compute_at(f.output, cn).vectorize(v.x, natural, TailStrategy::RoundUp);

    for (size_t i = 0; i < f.dwt.size(); i++) {
        const int width = level_vector_width(natural, static_cast<int>(i) + 1);
        f.dwt[i].compute_at(f.output, cn).bound(v.b, 0, 4).reorder(v.x, v.b, v.y);
        vectorize_pure_and_updates(f.dwt[i], v.x, width);
        f.band_conv[i].compute_at(f.output, cn).bound(v.b, 0, 4).reorder(v.x, v.b, v.y);
        vectorize_pure_and_updates(f.band_conv[i], v.x, width);
        // The IDWT writes the level above: twice as wide.
        f.idwt[i].compute_at(f.output, cn);
        vectorize_pure_and_updates(f.idwt[i], v.x, level_vector_width(natural, static_cast<int>(i)));
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
