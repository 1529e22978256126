// The cache lines the channel-blocked large-plane pipelines prefetch
// (runtime/prefetch_ahead.h): the right pixels, and nothing outside the
// tensor whatever the tile and row the pipeline asks for.
#include "prefetch_ahead.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace {

using wtconv::detail::for_each_pixel_line;

// A dense channel-blocked view as the runtime hands it to the pipelines:
// (x, y, c, n) with 16 channels per pixel, rows and blocks back to back.
struct BlockedView {
    int width, height, blocks;
    std::vector<float> data;
    halide_dimension_t dims[4];
    halide_buffer_t buffer{};

    BlockedView(int w, int h, int n, int x_min = 0, int y_min = 0)
        : width(w), height(h), blocks(n), data(size_t(w) * h * n * 16) {
        dims[0] = {x_min, w, 16};
        dims[1] = {y_min, h, 16 * w};
        dims[2] = {0, 16, 1};
        dims[3] = {0, n, 16 * w * h};
        buffer.host = reinterpret_cast<uint8_t *>(data.data());
        buffer.type = halide_type_t(halide_type_float, 32);
        buffer.dimensions = 4;
        buffer.dim = dims;
    }

    // Offsets (in floats) of the lines for_each_pixel_line visits.
    std::vector<int64_t> lines(int x, int pixels, int y, int n) const {
        std::vector<int64_t> out;
        for_each_pixel_line(&buffer, x, pixels, y, n, [&](const uint8_t *p) {
            out.push_back((p - buffer.host) / int64_t(sizeof(float)));
        });
        return out;
    }
};

TEST(PrefetchAhead, VisitsEachPixelOfTheTileOnce) {
    const BlockedView view(37, 11, 3);
    const int x = 8, y = 5, n = 2;
    std::vector<int64_t> expected;
    for (int i = 0; i < 8; i++) expected.push_back(16 * ((x + i) + int64_t(37) * (y + int64_t(11) * n)));
    EXPECT_EQ(view.lines(x, 8, y, n), expected);
}

TEST(PrefetchAhead, ClipsTheLastTileOfARow) {
    const BlockedView view(37, 11, 3);
    const std::vector<int64_t> lines = view.lines(32, 8, 0, 0);
    ASSERT_EQ(lines.size(), 5u);  // pixels 32-36
    EXPECT_EQ(lines.back(), 16 * 36);
}

TEST(PrefetchAhead, NothingOutsideTheTensor) {
    const BlockedView view(37, 11, 3);
    EXPECT_TRUE(view.lines(0, 8, 11, 0).empty());  // the row below the last
    EXPECT_TRUE(view.lines(0, 8, -1, 0).empty());
    EXPECT_TRUE(view.lines(37, 8, 0, 0).empty());  // right of the last pixel
    EXPECT_TRUE(view.lines(-8, 8, 0, 0).empty());
    EXPECT_TRUE(view.lines(0, 8, 0, 3).empty());  // no such block
    EXPECT_TRUE(view.lines(0, 0, 0, 0).empty());
    for_each_pixel_line(nullptr, 0, 8, 0, 0, [](const uint8_t *) { ADD_FAILURE() << "visited a null buffer"; });
}

TEST(PrefetchAhead, OnlyFourDimensionalBuffers) {
    BlockedView view(8, 8, 1);
    view.buffer.dimensions = 3;  // dim[3] must not be read
    EXPECT_TRUE(view.lines(0, 8, 0, 0).empty());
}

TEST(PrefetchAhead, HonoursTheBufferMins) {
    const BlockedView view(16, 4, 1, /*x_min=*/100, /*y_min=*/50);
    const std::vector<int64_t> lines = view.lines(108, 8, 51, 0);
    ASSERT_EQ(lines.size(), 8u);
    EXPECT_EQ(lines.front(), 16 * (8 + 16 * 1));
    EXPECT_TRUE(view.lines(0, 8, 0, 0).empty());
}

}  // namespace
