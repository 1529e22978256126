// Software prefetch for the channel-blocked large-plane pipelines.
//
// Those pipelines stream a 16-channel block of the input and the output
// through memory a strip of rows at a time, and their first touch of each
// input and output line waited on L3 (level 1's DWT and the output's stores:
// about a quarter of a 512 x 512 forward, while the convs left the memory
// idle). Halide 21 has no prefetch we can use there: its intrinsic emits
// prefetchnta, whose lines never reach L2, and pins the loops' loads
// (PERFORMANCE.md, session ten). So the pipeline calls this function once
// per output tile (generators/wtconv_fused_generator.cpp, prefetch_ahead),
// and it asks for the lines a few rows ahead, to L1 and L2, while the tile's
// convs run: 0.91-0.94 of the time at 512 x 512 (PERFORMANCE.md, step 42).
#include "HalideRuntime.h"

#include <cstdint>

namespace {

// Rows ahead of the output tile: the input row that level 1's DWT reads
// about two strips later, and the output row stored one strip later. Nearer
// rows gave the core too little time, farther ones were gone from L1 and
// L2 again (512 x 512: input 4 rows ahead 1.02, 6-10 rows 0.94-0.96, 12
// 0.97; output 1-8 rows ahead, read prefetch, 0.91-0.94; prefetchw 0.94).
constexpr int kInputRowsAhead = 8;
constexpr int kOutputRowsAhead = 4;

// Prefetches the first cache line of `pixels` pixels from (x, y) on, in
// image n, of a 4-D (x, y, c, n) buffer; nothing outside the buffer.
// Always inlined: as a call, GCC proves it free of side effects and drops it.
[[gnu::always_inline]] inline void prefetch_pixels(const halide_buffer_t *b, int x, int pixels, int y, int n) {
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
    for (int i = 0; i < count; i++) __builtin_prefetch(p + i * step, 0, 3);
}

}  // namespace

// The pipeline's token: always 0 (the pipeline keeps the call alive by
// testing it).
extern "C" int wtconv_prefetch_ahead(const halide_buffer_t *input, const halide_buffer_t *output, int x, int pixels,
                                     int y, int n) {
    prefetch_pixels(input, x, pixels, y + kInputRowsAhead, n);
    prefetch_pixels(output, x, pixels, y + kOutputRowsAhead, n);
    return 0;
}
