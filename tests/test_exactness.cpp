// The layer against the double-precision reference over the configuration
// space: fast and general paths, every level count the variants cover and
// beyond (staged), even and odd kernels, every PyWavelets wavelet, custom
// filters, strides, odd, prime, 1x1 and large (strip-tiled) planes.
#include "check_reference.h"

#include "../schedules/variant_limits.h"

#include <limits>
#include <tuple>

namespace wtconv::testing {
namespace {

// Every layout forward() runs: NCHW, channels-last and channel-blocked
// (nChw16c, any channel count: the last block padded).
const Layout kLayouts[] = {Layout::nchw, Layout::channels_last, Layout::nchw16c};

TEST(Exactness, HaarFastPathEveryLevelAndKernel) {
    Random rnd(1);
    for (int levels = 1; levels <= 5; levels++) {
        for (int k : {3, 5, 7}) {
            // Few channels, and enough for the channels-last pipeline (>= 16).
            const int channels = (levels + k) % 2 ? rnd.uniform(1, 4) : rnd.uniform(16, 21);
            LayerSpec spec{channels, k, levels, 1, rnd.uniform(0, 1) ? "db1" : "haar", true};
            SCOPED_TRACE(describe(spec));
            RandomLayer layer = random_layer(spec, rnd);
            if (compiled(Path::fused_haar, levels)) ASSERT_EQ(layer.make_layer().variant().path, Path::fused_haar);
            for (Layout layout : kLayouts) {
                expect_layer_matches_reference(layer, rnd.uniform(1, 2), rnd.uniform(1, 40), rnd.uniform(1, 40),
                                               Path::automatic, rnd, layout);
            }
        }
    }
}

TEST(Exactness, HaarKernelFiveWithStrides) {
    // k = 5 runs the convs' copies with unrolled taps (schedules/cpu_schedules.h,
    // kUnrolledKernel); strides > 1 take the strided base conv inside them.
    Random rnd(9);
    for (int stride : {1, 2, 3}) {
        for (int levels : {1, 2, 4}) {
            // Few channels run NCHW in both layouts; 16 or more, channels-last too.
            const int channels = (stride + levels) % 2 ? rnd.uniform(1, 4) : rnd.uniform(16, 21);
            LayerSpec spec{channels, 5, levels, stride, "db1", true};
            SCOPED_TRACE(describe(spec));
            RandomLayer layer = random_layer(spec, rnd);
            for (Layout layout : kLayouts) {
                expect_layer_matches_reference(layer, rnd.uniform(1, 2), rnd.uniform(9, 41), rnd.uniform(9, 41),
                                               Path::automatic, rnd, layout);
            }
        }
    }
}

TEST(Exactness, SmallPlanesInTwoVectorTasks) {
    // Channels-last planes of at most kSmallPlaneWidth^2 pixels with two
    // channel vectors or more run tasks of two vectors in the Haar variants
    // of 1-3 levels (schedules/cpu_schedules.h): channel counts that are not
    // a multiple of the task (its last task shifted inwards), the 16 x 16
    // limit and one pixel row beyond it, odd kernels and k = 5.
    Random rnd(10);
    for (auto [h, w] : {std::pair{7, 7}, {16, 16}, {17, 16}, {5, 12}}) {
        for (int levels : {1, 2, 3}) {
            LayerSpec spec{rnd.uniform(32, 70), rnd.uniform(0, 1) ? 5 : rnd.uniform(1, 7), levels, 1, "db1", true};
            SCOPED_TRACE(describe(spec) + " " + std::to_string(h) + "x" + std::to_string(w));
            expect_layer_matches_reference(random_layer(spec, rnd), rnd.uniform(1, 2), h, w, Path::automatic, rnd,
                                           Layout::channels_last);
        }
    }
}

TEST(Exactness, WTConvNeXtShapes) {
    Random rnd(2);
    // Stage shapes of WTConvNeXt-T (channels reduced to keep the double
    // reference quick): 56 (5 levels), 28 (4), 14 (3), 7 (2 and 1), k = 5,
    // Haar, stride 1: the planes that have channels-last plane variants
    // (generators/CMakeLists.txt), in tasks of one channel vector and of
    // two. 19 and 35: full channel blocks and a partial one. The same planes
    // with k = 3 or stride 2 run the variants for any size.
    for (auto [size, levels] : {std::pair{56, 5}, {28, 4}, {14, 3}, {7, 2}, {7, 1}}) {
        for (auto [channels, k, stride] : {std::tuple{19, 5, 1}, {35, 5, 1}, {35, 3, 1}, {19, 5, 2}}) {
            LayerSpec spec{channels, k, levels, stride, "db1", true};
            SCOPED_TRACE(describe(spec));
            for (Layout layout : kLayouts) {
                expect_layer_matches_reference(random_layer(spec, rnd), 2, size, size, Path::automatic, rnd, layout);
            }
        }
    }
}

// A channel-blocked tensor (nChw16c) in `memory` holding the NCHW tensor x,
// with `row_pad` floats after each row of a block.
Tensor blocked_tensor(std::vector<float> &memory, const std::vector<float> &x, int N, int C, int H, int W,
                      int row_pad) {
    const int64_t blocks = (C + kChannelBlock - 1) / kChannelBlock, row = W * kChannelBlock + row_pad;
    memory.assign(size_t(N * blocks * H * row), std::numeric_limits<float>::quiet_NaN());
    const Tensor t{memory.data(), {N, C, H, W}, {blocks * H * row, H * row, row, kChannelBlock}, kChannelBlock};
    detail::copy_elements(ConstTensor::nchw(x.data(), N, C, H, W), t);
    return t;
}

TEST(Exactness, ChannelBlockedVariants) {
    // Dense channel-blocked tensors run the plane and large-plane variants
    // built for them (every stride a constant: generator parameter
    // channel_blocked); blocked tensors with gaps between rows run the
    // channels-last variants. Both against the reference, on stage planes
    // and large ones, with a partial last block.
    Random rnd(13);
    struct Case {
        int size_h, size_w, levels;
    };
    for (auto [H, W, levels] : {Case{7, 7, 2}, {14, 14, 3}, {131, 129, 2}, {97, 260, 3}}) {
        LayerSpec spec{19, 5, levels, 1, "db1", true};
        SCOPED_TRACE(describe(spec) + " " + std::to_string(H) + "x" + std::to_string(W));
        RandomLayer layer_spec = random_layer(spec, rnd);
        Layer layer = layer_spec.make_layer();
        const int N = 2, C = spec.channels;
        const std::vector<float> x = rnd.nonzero_vector(size_t(N) * C * H * W);
        const std::vector<double> ref = reference_forward(layer_spec, x, N, H, W);
        const std::vector<double> magnitude = reference_forward(layer_spec, x, N, H, W, true);
        std::string ran[2];
        for (int row_pad : {0, 16}) {
            SCOPED_TRACE("row pad " + std::to_string(row_pad));
            std::vector<float> x_memory, y_memory, y(x.size());
            const Tensor X = blocked_tensor(x_memory, x, N, C, H, W, row_pad);
            const Tensor Y = blocked_tensor(y_memory, x, N, C, H, W, row_pad);
            layer.forward(X, Y);
            ran[row_pad != 0] = detail::last_fused_variant_name();
            detail::copy_elements(ConstTensor(Y), Tensor::nchw(y.data(), N, C, H, W));
            EXPECT_TRUE(matches_reference(y, ref, magnitude));
        }
        // The tuned variants (hand-scheduled builds) come in pairs.
        EXPECT_EQ(ran[1].find("nchw16c"), std::string::npos) << ran[1];
        const bool tuned = ran[1].find("_large") != std::string::npos || ran[1].find("_huge") != std::string::npos ||
                           ran[1].find("x" + std::to_string(W)) != std::string::npos;
        if (tuned) EXPECT_NE(ran[0].find("nchw16c"), std::string::npos) << ran[0];
    }
}

TEST(Exactness, SmallPlaneTaskGroups) {
    Random rnd(12);
    // Many tasks on the small planes: the variants tuned for 7x7 and 14x14
    // run up to 8 and 4 tasks per parallel iteration (at least 16
    // iterations), here in groups of 2 to 8 with a partial last group
    // (schedules/cpu_schedules.h, max_task_group). k = 5 and stride 1 run
    // the plane variants, k = 3 and stride 2 the variants for any size.
    struct Case {
        int size, levels, images, channels;
    };
    for (auto [size, levels, images, channels] : {Case{7, 2, 11, 230}, {7, 1, 13, 83}, {14, 3, 13, 115}}) {
        for (auto [k, stride] : {std::pair{5, 1}, {3, 1}, {5, 2}}) {
            LayerSpec spec{channels, k, levels, stride, "db1", true};
            SCOPED_TRACE(describe(spec) + " batch " + std::to_string(images));
            RandomLayer layer = random_layer(spec, rnd);
            for (Layout layout : {Layout::channels_last, Layout::nchw16c}) {
                expect_layer_matches_reference(layer, images, size, size, Path::automatic, rnd, layout);
            }
        }
    }
}

TEST(Exactness, RandomConfigurationsAllPaths) {
    Random rnd(3);
    for (int trial = 0; trial < 40; trial++) {
        const LayerSpec spec = random_spec(rnd);
        SCOPED_TRACE("trial " + std::to_string(trial) + ": " + describe(spec));
        RandomLayer layer = random_layer(spec, rnd);
        const int N = rnd.uniform(1, 2), H = rnd.uniform(1, 37), W = rnd.uniform(1, 37);
        for (Layout layout : kLayouts) {
            expect_layer_matches_reference(layer, N, H, W, Path::automatic, rnd, layout);
            expect_layer_matches_reference(layer, N, H, W, Path::fused_general, rnd, layout);
            expect_layer_matches_reference(layer, N, H, W, Path::staged, rnd, layout);
        }
    }
}

TEST(Exactness, LevelsBeyondTheFusedVariantsRunStaged) {
    Random rnd(4);
    for (int levels : {9, 10, 12}) {
        LayerSpec spec{2, rnd.pick(std::vector<int>{3, 4, 5}), levels, rnd.uniform(1, 2), rnd.pick(std::vector<std::string>{"db1", "sym3"}), true};
        SCOPED_TRACE(describe(spec));
        RandomLayer layer = random_layer(spec, rnd);
        EXPECT_EQ(layer.make_layer().variant().path, Path::staged);
        expect_layer_matches_reference(layer, 1, rnd.uniform(20, 70), rnd.uniform(20, 70), Path::automatic, rnd);
    }
}

TEST(Exactness, EveryPyWaveletsWavelet) {
    Random rnd(5);
    const std::vector<std::string> names = Layer::wavelets();
    ASSERT_EQ(names.size(), 106u);
    for (const std::string &name : names) {
        LayerSpec spec{1, rnd.uniform(1, 5), 2, 1, name, true};
        SCOPED_TRACE(describe(spec));
        expect_layer_matches_reference(random_layer(spec, rnd), 1, rnd.uniform(5, 14), rnd.uniform(5, 14),
                                       Path::automatic, rnd);
    }
}

TEST(Exactness, CustomNonSeparableFilters) {
    Random rnd(6);
    for (int taps : {2, 4, 8}) {
        LayerSpec spec{2, rnd.uniform(2, 5), rnd.uniform(1, 4), rnd.uniform(1, 2), "custom:" + std::to_string(taps), true};
        SCOPED_TRACE(describe(spec));
        RandomLayer layer = random_layer(spec, rnd);
        EXPECT_FALSE(layer.make_layer().is_haar());
        expect_layer_matches_reference(layer, 1, rnd.uniform(3, 30), rnd.uniform(3, 30), Path::automatic, rnd);
    }
}

TEST(Exactness, TinyAndPrimePlanes) {
    Random rnd(7);
    for (auto [h, w] : {std::pair{1, 1}, {1, 2}, {2, 1}, {1, 7}, {7, 1}, {2, 2}, {3, 3}, {13, 17}, {31, 2}}) {
        for (const char *wavelet : {"db1", "db4"}) {
            LayerSpec spec{3, rnd.uniform(1, 7), rnd.uniform(1, 6), rnd.uniform(1, 3), wavelet, true};
            SCOPED_TRACE(describe(spec));
            for (Layout layout : kLayouts) {
                expect_layer_matches_reference(random_layer(spec, rnd), 2, h, w, Path::automatic, rnd, layout);
            }
        }
    }
}

TEST(Exactness, LargePlanesRunInStrips) {
    // NCHW planes of more than 2^17 pixels compute their two finest levels in
    // strips of output rows (schedules/cpu_schedules.h): odd sizes, strides,
    // one level (no separate LL band) and several, both fused paths.
    Random rnd(8);
    for (auto [h, w] : {std::pair{363, 371}, {300, 512}}) {
        for (const char *wavelet : {"db1", "sym2"}) {
            for (int levels : {1, 2, 5}) {
                LayerSpec spec{2, rnd.uniform(3, 7), levels, rnd.uniform(1, 3), wavelet, true};
                SCOPED_TRACE(describe(spec) + " " + std::to_string(h) + "x" + std::to_string(w));
                expect_layer_matches_reference(random_layer(spec, rnd), 1, h, w, Path::automatic, rnd);
            }
        }
    }
}

TEST(Exactness, LargeChannelsLastPlanes) {
    // The channels-last pipeline (and the channel-blocked layout that runs
    // it) on planes of 10^4 pixels and more. With stride 1, planes of more
    // than 2^14 pixels run the large-plane variants (strips of 4 output
    // rows, each with a partial last strip and a partial last tile of 8
    // pixels; level 1's bands in a ring of 8 rows for k <= 5, k + 3 rows
    // otherwise); 128 x 128 and strided layers the variants for any size.
    // Odd sizes, k = 5 (unrolled taps) and other kernels up to 13, one
    // level and up to five (levels 2 and deeper over the whole plane, their
    // band convs a row at a time; dense blocked tensors also prefetch).
    // With three levels or more, each plane runs both the large-plane and
    // the huge-plane variants (level 2 in the strips too; machines with a
    // small L2 run them on every large plane, runtime/pipelines.cpp).
    Random rnd(11);
    for (auto [h, w] : {std::pair{131, 129}, {128, 128}, {97, 260}}) {
        for (int levels : {1, 2, 3, 4, 5}) {
            const int k = rnd.uniform(0, 1) ? 5 : rnd.uniform(2, 7);
            const int stride = levels == 2 ? rnd.uniform(2, 3) : 1;
            LayerSpec spec{rnd.uniform(16, 20), k, levels, stride, "db1", true};
            RandomLayer layer = random_layer(spec, rnd);
            for (bool huge : {false, true}) {
                if (huge && levels < 3) continue;
                SCOPED_TRACE(describe(spec) + " " + std::to_string(h) + "x" + std::to_string(w) +
                             (huge ? " huge-plane threshold" : " large-plane threshold"));
                detail::set_huge_plane_min_pixels(huge ? kChannelsLastStripMinPixels : kChannelsLastHugeMinPixels);
                for (Layout layout : {Layout::channels_last, Layout::nchw16c}) {
                    expect_layer_matches_reference(layer, 1, h, w, Path::automatic, rnd, layout);
                    const std::string ran = detail::last_fused_variant_name();
                    EXPECT_EQ(ran.find(huge ? "_large" : "_huge"), std::string::npos) << ran;
                }
                detail::set_huge_plane_min_pixels(-1);
            }
        }
    }
    for (int k : {9, 13}) {
        LayerSpec spec{17, k, 2, 1, "db1", true};
        SCOPED_TRACE(describe(spec) + " 131x129");
        RandomLayer layer = random_layer(spec, rnd);
        for (Layout layout : {Layout::channels_last, Layout::nchw16c}) {
            expect_layer_matches_reference(layer, 1, 131, 129, Path::automatic, rnd, layout);
        }
    }
    // Planes a few rows high: fewer rows than a strip, levels of one row.
    for (auto [h, w, levels] : {std::tuple{3, 6001, 2}, {2, 9000, 3}, {5, 4099, 4}}) {
        LayerSpec spec{16, 5, levels, 1, "db1", true};
        SCOPED_TRACE(describe(spec) + " " + std::to_string(h) + "x" + std::to_string(w));
        expect_layer_matches_reference(random_layer(spec, rnd), 1, h, w, Path::automatic, rnd, Layout::nchw16c);
    }
}

TEST(Exactness, LargeChannelsLastPlanesThroughBlocks) {
    // Large channels-last planes of several whole blocks of channels run the
    // channel-blocked pipeline, the tensors copied block by block
    // (Layer::variant_for): dense views and views with spare channels per
    // pixel, stride 1 and 2, against the reference (and a general-filter
    // layer, which stays on the channels-last pipeline); each also through the
    // channels-last pipeline itself (the route turned off), which must
    // agree as well.
    Random rnd(14);
    struct Case {
        int channels, h, w, levels, stride, spare;
        const char *wavelet;
    };
    for (auto [C, H, W, levels, stride, spare, wavelet] :
         {Case{32, 161, 160, 3, 1, 0, "db1"}, {48, 97, 260, 2, 1, 5, "db1"}, {32, 130, 200, 5, 1, 3, "db1"},
          {32, 170, 161, 1, 2, 0, "db1"}, {32, 165, 160, 2, 1, 2, "db2"}}) {
        LayerSpec spec{C, 5, levels, stride, wavelet, true};
        SCOPED_TRACE(describe(spec) + " " + std::to_string(H) + "x" + std::to_string(W) + " spare " + std::to_string(spare));
        RandomLayer layer_spec = random_layer(spec, rnd);
        Layer layer = layer_spec.make_layer();
        const int N = 1;
        const std::vector<float> x = rnd.nonzero_vector(size_t(N) * C * H * W);
        const std::vector<double> ref = reference_forward(layer_spec, x, N, H, W);
        const std::vector<double> magnitude = reference_forward(layer_spec, x, N, H, W, true);
        const auto out = layer.output_shape({N, C, H, W});
        // Channels-last views with `spare` unused channels per pixel.
        const int64_t pixel = C + spare;
        std::vector<float> x_memory = rnd.nonzero_vector(size_t(H) * W * pixel);
        const Tensor X{x_memory.data(), {N, C, H, W}, {H * W * pixel, 1, W * pixel, pixel}};
        detail::copy_elements(ConstTensor::nchw(x.data(), N, C, H, W), X);
        for (bool through_blocks : {true, false}) {
            SCOPED_TRACE(through_blocks ? "through blocks" : "channels-last pipeline");
            detail::set_channels_last_via_blocked_min_pixels(through_blocks ? -1 : std::numeric_limits<int64_t>::max());
            std::vector<float> y_memory(size_t(out[2] * out[3] * pixel), -3.0f), y(size_t(out[0] * out[1] * out[2] * out[3]));
            const Tensor Y{y_memory.data(), out, {out[2] * out[3] * pixel, 1, out[3] * pixel, pixel}};
            // The general path keeps the channels-last pipeline (the copies cost more there).
            const bool routed = through_blocks && std::string(wavelet) == "db1";
            EXPECT_EQ(layer.variant_for(X, Y).layout, routed ? Layout::nchw16c : Layout::channels_last);
            layer.forward(X, Y);
            detail::set_channels_last_via_blocked_min_pixels(-1);
            if (stride == 1 && std::string(wavelet) == "db1") {  // the tuned Haar variants name their layout
                const std::string ran = detail::last_fused_variant_name();
                EXPECT_EQ(ran.find("nchw16c") != std::string::npos, through_blocks) << ran;
            }
            detail::copy_elements(ConstTensor(Y), Tensor::nchw(y.data(), out[0], out[1], out[2], out[3]));
            EXPECT_TRUE(matches_reference(y, ref, magnitude));
            for (size_t i = 0; i < y_memory.size(); i++) {
                if (int64_t(i) % pixel >= C) ASSERT_EQ(y_memory[i], -3.0f) << "wrote a spare channel at " << i;
            }
        }
    }
}

TEST(Exactness, HugeChannelsLastPlanes) {
    // Planes of more than 1.8 million pixels (kChannelsLastHugeMinPixels) with
    // three levels or more run the huge-plane variants on every machine (level 2's bands in
    // the strips too, level 2's LL band over the whole plane for level 3)
    // in hand-scheduled builds: odd sizes (a partial last strip and tile),
    // k = 5 and another kernel, both channels-last layouts, a partial
    // channel block. (The double reference takes about 10 s a layer here.)
    Random rnd(14);
    const int H = 1031, W = 2037;
    for (auto [levels, k, layout] : {std::tuple{3, 5, Layout::nchw16c}, {4, 3, Layout::channels_last}}) {
        LayerSpec spec{17, k, levels, 1, "db1", true};
        SCOPED_TRACE(describe(spec) + " " + std::to_string(H) + "x" + std::to_string(W));
        expect_layer_matches_reference(random_layer(spec, rnd), 1, H, W, Path::automatic, rnd, layout);
        const std::string ran = detail::last_fused_variant_name();
        EXPECT_EQ(ran.find("_large"), std::string::npos) << ran;
    }
    // Two rows: level 2 (and 3) one row high.
    LayerSpec spec{16, 5, 3, 1, "db1", true};
    SCOPED_TRACE(describe(spec) + " 2x920001");
    expect_layer_matches_reference(random_layer(spec, rnd), 1, 2, 920001, Path::automatic, rnd, Layout::nchw16c);
}

}  // namespace
}  // namespace wtconv::testing
