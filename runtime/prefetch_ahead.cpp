// Software prefetch for the channel-blocked large-plane pipelines.
//
// Those pipelines stream a 16-channel block of the input and the output
// through memory a strip of rows at a time, and their first touch of each
// input and output line waited on L3 (level 1's DWT and the output's
// stores), while the convs left the memory idle. Halide 21 has no prefetch
// we can use there: its intrinsic emits prefetchnta, whose lines never
// reach L2, and pins the loops' loads (PERFORMANCE.md, session ten). So the
// pipeline calls this function once per output tile (the generator's
// prefetch_ahead), and it asks for the lines a few rows ahead, into L1 and
// L2, while the tile's convs run: 0.91-0.95 of the time at 512 x 512
// (PERFORMANCE.md, step 42).
#include "prefetch_ahead.h"

// The pipeline's token: always 0 (the pipeline keeps the call alive by
// testing it).
extern "C" int wtconv_prefetch_ahead(const halide_buffer_t *input, const halide_buffer_t *output, int x, int pixels,
                                     int y, int n) {
    using wtconv::detail::for_each_pixel_line;
    // Inlined: a prefetch behind a function call of its own is a call with
    // no side effects, which GCC dropped (the first build of this file
    // prefetched nothing; the test prefetch_instructions guards it).
    auto prefetch = [](const uint8_t *line) __attribute__((always_inline)) { __builtin_prefetch(line, 0, 3); };
    for_each_pixel_line(input, x, pixels, y + wtconv::detail::kPrefetchInputRowsAhead, n, prefetch);
    for_each_pixel_line(output, x, pixels, y + wtconv::detail::kPrefetchOutputRowsAhead, n, prefetch);
    return 0;
}
