// Hand-written CUDA schedules of the fused pipeline, kept apart from the CPU
// ones (cpu_schedules.h) and from the algorithm (generators/wtconv_algorithm.h).
//
// Two plans, each its own AOT function (the runtime picks by plane size):
//
// - plane (H, W <= kGpuPlaneMax): ONE kernel launch. One thread block of
//   16 x 16 threads per (n, c) plane. Every level's bands, band convs and
//   (general path) IDWT outputs live in shared memory, at constant sizes
//   (bound_storage: the sizes of a kGpuPlaneMax plane, at most 32.5 KB,
//   under Halide's 48 KB per block; table in docs/DESIGN.md); reductions accumulate in registers.
//   Deep levels (1 to 4 px) run inside the same block, between barriers,
//   instead of in kernels of their own. Only x is read and only y written
//   in global memory.
// - tiled (any size): each level's DWT, band convs and (general path) IDWT
//   are computed root as 16 x 16 tiles, one kernel each, through global
//   memory (Halide's device allocation cache reuses the buffers across
//   calls); the base conv, the level-1 IDWT and the output are one kernel.
//   Launches: Haar 2L + 1, general 3L.
//
// Every reduction is wrapped (Func::in()): the wrapper owns the storage
// (shared or global) and the threads, the reduction itself runs per thread
// in registers, so each reduction is one pass with one store per element.
#pragma once

#include "Halide.h"

#include "cpu_schedules.h"  // FusedFuncs

#include <vector>

namespace wtconv {

// Largest input plane (height and width) the plane plan takes. Its shared
// memory is sized for this plane whatever the actual one. CMake passes the
// same number to the runtime, which picks the plan (cmake/WtconvTargets.cmake).
#ifndef WTCONV_CUDA_PLANE_MAX
#define WTCONV_CUDA_PLANE_MAX 56
#endif
constexpr int kGpuPlaneMax = WTCONV_CUDA_PLANE_MAX;
constexpr int kGpuTile = 16;  // threads per block: kGpuTile x kGpuTile

// The valid extent of level `level` of a `plane`-pixel side (level 0: the plane).
inline int gpu_level_extent(int plane, int level) {
    for (int l = 0; l < level; l++) plane = (plane + 1) / 2;
    return plane;
}

namespace gpu_detail {

using Halide::Func;
using Halide::Stage;
using Halide::TailStrategy;
using Halide::Var;

// A stage computed inside a block: 16 x 16 threads over (x, y), serial
// loops over the tiles and (for band Funcs) the bands outside them.
inline void block_threads(Stage s, const Vars &v, bool bands) {
    Var xo("xo"), yo("yo"), xi("xi"), yi("yi");
    s.split(v.x, xo, xi, kGpuTile, TailStrategy::GuardWithIf)
        .split(v.y, yo, yi, kGpuTile, TailStrategy::GuardWithIf);
    if (bands) {
        s.reorder(xi, yi, xo, yo, v.b);
    } else {
        s.reorder(xi, yi, xo, yo);
    }
    s.gpu_threads(xi, yi);
}

// A stage as its own kernel: 16 x 16 tiles, one block per tile and plane
// (bands, channels and images fused into the first grid dimension, which
// has no 65535 limit).
inline void root_tiles(Stage s, const Vars &v, bool bands) {
    Var xo("xo"), yo("yo"), xi("xi"), yi("yi"), p("p"), q("q");
    s.split(v.x, xo, xi, kGpuTile, TailStrategy::GuardWithIf)
        .split(v.y, yo, yi, kGpuTile, TailStrategy::GuardWithIf);
    if (bands) {
        s.fuse(v.b, v.c, p).fuse(p, v.n, q).reorder(xi, yi, q, xo, yo).gpu_blocks(q, xo, yo);
    } else {
        s.fuse(v.c, v.n, q).reorder(xi, yi, q, xo, yo).gpu_blocks(q, xo, yo);
    }
    s.gpu_threads(xi, yi);
}

// A reduction Func: accumulated per thread, in registers, at the wrapper's
// innermost thread loop. Returns the wrapper, which the caller schedules.
inline Func per_thread(Func f) {
    Func wrapper = f.in();
    f.compute_at(wrapper, Var("xi"));
    return wrapper;
}

}  // namespace gpu_detail

// plane_plan: see the top of this file.
inline void schedule_fused_gpu(FusedFuncs &f, const Vars &v, bool plane_plan) {
    using namespace gpu_detail;
    using Halide::MemoryType;
    const int L = static_cast<int>(f.dwt.size());
    Var xo("xo"), yo("yo"), xi("xi"), yi("yi"), cn("cn");

    // The output: base conv and level-1 IDWT per thread, in registers.
    if (plane_plan) {
        f.output.split(v.x, xo, xi, kGpuTile, TailStrategy::GuardWithIf)
            .split(v.y, yo, yi, kGpuTile, TailStrategy::GuardWithIf)
            .fuse(v.c, v.n, cn)
            .reorder(xi, yi, xo, yo, cn)
            .gpu_blocks(cn)
            .gpu_threads(xi, yi);
    } else {
        root_tiles(f.output, v, false);
    }
    f.base.compute_at(f.output, xi);
    // input_padded, bands and z_masked (masks) stay inline: clamped loads of
    // the arrays below.

    for (int i = 0; i < L; i++) {
        const int level = i + 1;
        // Stored arrays of this level: the DWT (raw bands), the band convs,
        // and for a general IDWT (a reduction) the reconstruction of the
        // level above (level 1's goes straight into the output, per thread).
        std::vector<std::pair<Func, int>> stored;  // Func, plane extent of its storage
        Func dwt = f.dwt[i];
        if (dwt.has_update_definition()) dwt = per_thread(dwt);
        stored.emplace_back(dwt, gpu_level_extent(kGpuPlaneMax, level));
        stored.emplace_back(per_thread(f.band_conv[i]), gpu_level_extent(kGpuPlaneMax, level));
        if (f.idwt[i].has_update_definition()) {
            if (level == 1) {
                f.idwt[i].compute_at(f.output, xi);
            } else {
                stored.emplace_back(per_thread(f.idwt[i]), gpu_level_extent(kGpuPlaneMax, level - 1));
            }
        }
        // A Haar IDWT (4 loads and a few adds) stays inline in its consumer.

        for (auto &[g, extent] : stored) {
            const bool bands = g.dimensions() == 5;
            if (bands) g.bound(v.b, 0, 4);
            if (plane_plan) {
                g.compute_at(f.output, cn)
                    .store_in(MemoryType::GPUShared)
                    .bound_storage(v.x, extent)
                    .bound_storage(v.y, extent);
                block_threads(g, v, bands);
            } else {
                g.compute_root();
                root_tiles(g, v, bands);
            }
        }
    }
}

}  // namespace wtconv
