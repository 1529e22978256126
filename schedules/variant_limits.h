// Which layers the specialised fused variants take. The schedules (and so
// the generated variants) and the runtime's dispatch (runtime/pipelines.cpp)
// must agree on these, so both include this file; it needs no Halide.
#pragma once

namespace wtconv {

// The kernel size whose taps the Haar convs unroll (schedules/cpu_schedules.h),
// and the only kernel size the plane variants take.
constexpr int kUnrolledKernel = 5;

// The channels-last large-plane variants take planes of more than this many
// pixels (stride 1); smaller planes run the variants for any size
// (schedules/cpu_schedules.h).
constexpr int kChannelsLastStripMinPixels = 1 << 14;

// The channels-last huge-plane variants (large-plane variants with level 2
// in the strips too) take planes of more than this many pixels (about
// 1355 x 1355; stride 1): 1360 x 1360 0.94 of the large-plane variant,
// 1280 x 1280 1.02 (PERFORMANCE.md, step 39). Cores with a small L2 run
// them from kChannelsLastStripMinPixels on (runtime/pipelines.cpp,
// kSmallL2Bytes).
constexpr int kChannelsLastHugeMinPixels = 7 << 18;

}  // namespace wtconv
