// Software prefetch for the channel-blocked large-plane pipelines
// (prefetch_ahead.cpp): which cache lines a call asks for.
#pragma once

#include "HalideRuntime.h"

#include <cstdint>

namespace wtconv::detail {

// Rows ahead of the output tile: the input row that level 1's DWT reads
// about two strips later, and the output row stored one strip later. Nearer
// rows gave the core too little time, farther ones were gone from L1 and
// L2 again (512 x 512: input 4 rows ahead 1.02, 6-10 rows 0.94-0.96, 12
// 0.97; output 1-8 rows ahead, read prefetch, 0.91-0.94; prefetchw 0.94;
// PERFORMANCE.md, step 42).
constexpr int kPrefetchInputRowsAhead = 8;
constexpr int kPrefetchOutputRowsAhead = 4;

// Calls visit(address) with the first byte of each of `pixels` pixels from
// (x, y) on, in image n, of a 4-D (x, y, c, n) buffer, channel c at its
// min: in the channel-blocked layout, one cache line per pixel. Pixels
// outside the buffer are skipped, and so is any buffer that is not 4-D.
template <typename Visit>
[[gnu::always_inline]] inline void for_each_pixel_line(const halide_buffer_t *b, int x, int pixels, int y, int n,
                                                       Visit visit) {
    if (b == nullptr || b->host == nullptr || b->dimensions != 4) return;
    const halide_dimension_t *d = b->dim;
    const int cols = d[0].min + d[0].extent - x;
    if (x < d[0].min || cols <= 0 || y < d[1].min || y >= d[1].min + d[1].extent || n < d[3].min ||
        n >= d[3].min + d[3].extent) {
        return;
    }
    const int64_t bytes = (b->type.bits + 7) / 8;
    const uint8_t *p = b->host + bytes * (int64_t(x - d[0].min) * d[0].stride + int64_t(y - d[1].min) * d[1].stride +
                                          int64_t(n - d[3].min) * d[3].stride);
    const int count = pixels < cols ? pixels : cols;
    const int64_t step = bytes * d[0].stride;
    for (int i = 0; i < count; i++) visit(p + i * step);
}

}  // namespace wtconv::detail
