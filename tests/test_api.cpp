// The public API's contract: bad tensors and arguments give a wtconv::Error
// naming what is wrong (never a crash or a write out of bounds), strided
// views, NaN propagation, concurrent forwards, variant reporting.
#include "check_reference.h"
#include "shape_string.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <thread>

namespace wtconv::testing {
namespace {

// EXPECT that `statement` throws wtconv::Error whose message contains `part`.
#define EXPECT_ERROR_MENTIONS(statement, part)                                                      \
    do {                                                                                            \
        try {                                                                                       \
            statement;                                                                              \
            ADD_FAILURE() << "no wtconv::Error thrown; expected one mentioning '" << (part) << "'"; \
        } catch (const wtconv::Error &e) {                                                          \
            EXPECT_NE(std::string(e.what()).find(part), std::string::npos)                          \
                << "message: " << e.what() << "\nshould mention: " << (part);                       \
        }                                                                                           \
    } while (0)

RandomLayer small_layer(Random &rnd, int levels = 2) { return random_layer({3, 5, levels, 1, "db1", true}, rnd); }

TEST(StateDictErrors, MissingAndMisshapenTensorsAreNamed) {
    Random rnd(31);
    RandomLayer l = small_layer(rnd);
    const std::string p = "stages.0.blocks.1.conv_dw.";

    auto without = [&](const std::string &key) {
        StateDict sd = l.state_dict(p);
        sd.erase(p + key);
        return sd;
    };
    EXPECT_ERROR_MENTIONS(Layer::from_state_dict(without("base_conv.weight"), p), p + "base_conv.weight");
    EXPECT_ERROR_MENTIONS(Layer::from_state_dict(without("base_scale.weight"), p), p + "base_scale.weight");
    EXPECT_ERROR_MENTIONS(Layer::from_state_dict(without("wavelet_convs.0.weight"), p), p + "wavelet_convs.0.weight");
    EXPECT_ERROR_MENTIONS(Layer::from_state_dict(without("wavelet_scale.1.weight"), p), p + "wavelet_scale.1.weight");
    EXPECT_ERROR_MENTIONS(Layer::from_state_dict(without("iwt_filter"), p), p + "iwt_filter");
    // No filters and no wavelet name.
    EXPECT_ERROR_MENTIONS(Layer::from_state_dict(l.state_dict(p, false), p), "wavelet");
    // Wrong prefix: nothing found.
    EXPECT_ERROR_MENTIONS(Layer::from_state_dict(l.state_dict(p), "stages.9."), "stages.9.base_conv.weight");

    auto reshaped = [&](const std::string &key, std::vector<int64_t> shape) {
        StateDict sd = l.state_dict(p);
        sd[p + key].shape = std::move(shape);
        return sd;
    };
    EXPECT_ERROR_MENTIONS(Layer::from_state_dict(reshaped("wavelet_convs.1.weight", {12, 1, 3, 3}), p),
                          "'" + p + "wavelet_convs.1.weight' has shape [12, 1, 3, 3]: expected [12, 1, 5, 5]");
    EXPECT_ERROR_MENTIONS(Layer::from_state_dict(reshaped("base_conv.weight", {3, 2, 5, 5}), p), "depthwise");
    EXPECT_ERROR_MENTIONS(Layer::from_state_dict(reshaped("base_conv.weight", {3, 1, 5, 4}), p), "[3, 1, 5, 4]");
    EXPECT_ERROR_MENTIONS(Layer::from_state_dict(reshaped("base_conv.bias", {4}), p), "base_conv.bias");
    EXPECT_ERROR_MENTIONS(Layer::from_state_dict(reshaped("base_scale.weight", {3}), p), "base_scale.weight");
    EXPECT_ERROR_MENTIONS(Layer::from_state_dict(reshaped("wt_filter", {12, 1, 3, 3}), p), "F even");
    EXPECT_ERROR_MENTIONS(Layer::from_state_dict(reshaped("wt_filter", {12, 1, 2, 4}), p), "wt_filter");
    EXPECT_ERROR_MENTIONS(Layer::from_state_dict(reshaped("base_conv.weight", {0, 1, 5, 5}), p), "[0, 1, 5, 5]");

    StateDict null_data = l.state_dict(p);
    null_data[p + "wavelet_scale.0.weight"].data = nullptr;
    EXPECT_ERROR_MENTIONS(Layer::from_state_dict(null_data, p), "wavelet_scale.0.weight");

    // A scale with no conv of its level.
    StateDict extra = l.state_dict(p);
    extra[p + "wavelet_scale.2.weight"] = extra[p + "wavelet_scale.1.weight"];
    EXPECT_ERROR_MENTIONS(Layer::from_state_dict(extra, p), "wavelet_convs.2.weight");

    EXPECT_ERROR_MENTIONS(Layer::from_state_dict(l.state_dict(p), p, 0), "stride");
    EXPECT_ERROR_MENTIONS(Layer::from_state_dict(l.state_dict(p, false), p, 1, std::string("db99")), "db99");
}

TEST(StateDictErrors, ConfigMustAgreeWithTensors) {
    Random rnd(32);
    RandomLayer l = small_layer(rnd);
    const StateDict sd = l.state_dict("", false);
    EXPECT_NO_THROW(Layer::from_config({3, 5, 2, "db1", 1, true}, sd));
    EXPECT_ERROR_MENTIONS(Layer::from_config({4, 5, 2, "db1", 1, true}, sd), "config.channels");
    EXPECT_ERROR_MENTIONS(Layer::from_config({3, 3, 2, "db1", 1, true}, sd), "base_conv.weight");
    EXPECT_ERROR_MENTIONS(Layer::from_config({3, 5, 3, "db1", 1, true}, sd), "config.levels");
    EXPECT_ERROR_MENTIONS(Layer::from_config({3, 5, 2, "db1", 1, false}, sd), "base_conv.bias");
    EXPECT_ERROR_MENTIONS(Layer::from_config({3, 5, 2, "nope", 1, true}, sd), "unknown wavelet 'nope'");
    EXPECT_ERROR_MENTIONS(Layer::from_config({0, 5, 2, "db1", 1, true}, sd), "config.channels");
    EXPECT_ERROR_MENTIONS(Layer::from_config({3, 5, 2, "db1", 1, true}, l.state_dict()), "wt_filter");
}

TEST(ForwardErrors, ShapesSizesPointersAndOverlap) {
    Random rnd(33);
    Layer layer = small_layer(rnd).make_layer();
    std::vector<float> x(2 * 3 * 9 * 10, 1.0f), y(2 * 3 * 9 * 10, 0.0f);
    auto X = ConstTensor::nchw(x.data(), 2, 3, 9, 10);
    auto Y = Tensor::nchw(y.data(), 2, 3, 9, 10);
    EXPECT_NO_THROW(layer.forward(X, Y));

    EXPECT_ERROR_MENTIONS(layer.forward(ConstTensor::nchw(x.data(), 2, 4, 9, 10), Y), "3 channels");
    EXPECT_ERROR_MENTIONS(layer.forward(X, Tensor::nchw(y.data(), 2, 3, 9, 9)), "expected [2, 3, 9, 10]");
    EXPECT_ERROR_MENTIONS(layer.forward(ConstTensor::nchw(x.data(), 0, 3, 9, 10), Tensor::nchw(y.data(), 0, 3, 9, 10)),
                          "every size must be >= 1");
    EXPECT_ERROR_MENTIONS(layer.forward(ConstTensor::nchw(nullptr, 2, 3, 9, 10), Y), "null pointer");
    EXPECT_ERROR_MENTIONS(layer.forward(X, Tensor{y.data(), {2, 3, 9, 10}, {270, 90, 10, -1}}), "strides");
    EXPECT_ERROR_MENTIONS(layer.forward(X, Tensor{x.data(), {2, 3, 9, 10}, {270, 90, 10, 1}}), "overlap");
    EXPECT_ERROR_MENTIONS(layer.forward(ConstTensor::nchw(x.data(), 1, 3, 70000, 70000),
                                        Tensor::nchw(y.data(), 1, 3, 70000, 70000)),
                          "2^31");
    if (compiled(Path::fused_general, 2)) EXPECT_NO_THROW(layer.forward(X, Y, Path::fused_general));
}

TEST(ForwardErrors, PathsThatDoNotCoverTheLayer) {
    Random rnd(34);
    Layer sym = random_layer({2, 3, 2, 1, "sym4", true}, rnd).make_layer();
    EXPECT_FALSE(sym.is_haar());
    EXPECT_ERROR_MENTIONS(sym.variant(Path::fused_haar), "fused_haar needs Haar");
    Layer deep = random_layer({2, 3, 9, 1, "db1", true}, rnd).make_layer();
    EXPECT_ERROR_MENTIONS(deep.variant(Path::fused_general), "covers " + detail::fused_levels_text(false) + " levels");
    EXPECT_EQ(deep.variant().path, Path::staged);
}

TEST(Forward, ZeroLevelsIsTheBaseConvAlone) {
    // The reference module accepts wt_levels=0: no wavelet tensors, y =
    // base_scale * (conv(x) + bias).
    Random rnd(39);
    for (int stride : {1, 2}) {
        RandomLayer spec = random_layer({3, 4, 0, stride, "db2", true}, rnd);
        Layer layer = spec.make_layer();
        EXPECT_EQ(layer.levels(), 0);
        EXPECT_EQ(layer.variant().path, Path::staged);
        EXPECT_ERROR_MENTIONS(layer.variant(Path::fused_general), "covers " + detail::fused_levels_text(false) + " levels");
        expect_layer_matches_reference(spec, 2, 11, 13, Path::automatic, rnd);
    }
}

TEST(Variants, ReportPathLevelsAndIsa) {
    Random rnd(35);
    Layer haar = small_layer(rnd, 3).make_layer();
    const Variant v = haar.variant();
    EXPECT_EQ(v.path, compiled(Path::fused_haar, 3) ? Path::fused_haar : compiled(Path::fused_general, 3) ? Path::fused_general : Path::staged);
    EXPECT_EQ(v.levels, 3);
    EXPECT_TRUE(v.isa == "avx512" || v.isa == "avx2" || v.isa == "sse41") << v.isa;
    if (const char *cap = std::getenv("WTCONV_CPU_ISA")) {
        EXPECT_EQ(v.isa, cap) << "WTCONV_CPU_ISA caps the dispatched variant";
    }
    EXPECT_EQ(haar.variant(Path::staged).path, Path::staged);
    EXPECT_EQ(random_layer({1, 3, 2, 1, "db2", true}, rnd).make_layer().variant().path,
              compiled(Path::fused_general, 2) ? Path::fused_general : Path::staged);
}

// The fused variants compiled are the ones CMake's level lists name (a
// narrowed build tests fewer; the default build must have them all).
TEST(Variants, EveryConfiguredLevelIsCompiled) {
    const std::vector<int> haar = {WTCONV_TEST_HAAR_LEVELS}, general = {WTCONV_TEST_GENERAL_LEVELS};
    for (int levels = 1; levels <= 16; levels++) {
        const bool want_haar = std::find(haar.begin(), haar.end(), levels) != haar.end();
        const bool want_general = std::find(general.begin(), general.end(), levels) != general.end();
        EXPECT_EQ(detail::has_fused_variant(true, levels), want_haar) << "Haar, " << levels << " levels";
        EXPECT_EQ(detail::has_fused_variant(false, levels), want_general) << "general, " << levels << " levels";
    }
}

TEST(Variants, ChannelsLastNeedsAWholeVectorOfChannels) {
    Random rnd(36);
    Layer few = random_layer({15, 5, 2, 1, "db1", true}, rnd).make_layer();
    Layer enough = random_layer({16, 5, 2, 1, "db1", true}, rnd).make_layer();
    EXPECT_EQ(few.variant(Path::automatic, Layout::channels_last).layout, Layout::nchw);
    EXPECT_EQ(enough.variant(Path::automatic, Layout::channels_last).layout, Layout::channels_last);
    EXPECT_EQ(enough.variant(Path::staged, Layout::channels_last).layout, Layout::nchw);
    // Channel-blocked tensors hold whole blocks: any channel count.
    EXPECT_EQ(few.variant(Path::automatic, Layout::nchw16c).layout, Layout::nchw16c);
    EXPECT_EQ(few.variant(Path::staged, Layout::nchw16c).layout, Layout::nchw);
}

// Small dense NCHW planes run the channels-last pipeline (repacked), when
// the build enables it (WTCONV_NCHW_VIA_CHANNELS_LAST_MAX_PIXELS; 0 in
// autoscheduled builds: then never).
TEST(Variants, SmallNchwPlanesRunChannelsLast) {
    Random rnd(39);
    Layer enough = random_layer({16, 5, 2, 1, "db1", true}, rnd).make_layer();
    Layer few = random_layer({15, 5, 2, 1, "db1", true}, rnd).make_layer();
    const int64_t max_pixels = detail::nchw_via_channels_last_max_pixels();
    const bool enabled = max_pixels >= 49;
    std::vector<float> in(size_t(16) * 100 * 100), out(in.size());
    auto nchw = [&](int64_t C, int64_t H, int64_t W) { return Tensor::nchw(in.data(), 1, C, H, W); };
    // y: a dense NCHW tensor of the same shape as x, in its own memory.
    auto layout_of = [&](const Layer &l, const Tensor &x, Path p = Path::automatic) {
        const Tensor y = Tensor::nchw(out.data(), x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        return l.variant_for(ConstTensor{x.data, x.shape, x.strides}, y, p).layout;
    };
    EXPECT_EQ(layout_of(enough, nchw(16, 7, 7)), enabled ? Layout::channels_last : Layout::nchw);
    EXPECT_EQ(layout_of(enough, nchw(16, 7, 7), Path::staged), Layout::nchw);
    EXPECT_EQ(layout_of(few, nchw(15, 7, 7)), Layout::nchw);
    EXPECT_EQ(layout_of(enough, nchw(16, 3, 5)), Layout::nchw);  // 15 pixels: less than one repack tile
    if (max_pixels > 0 && max_pixels < 100 * 100) {
        EXPECT_EQ(layout_of(enough, nchw(16, 100, 100)), Layout::nchw);
    }
    // Rows with padding between them: no repack, the NCHW pipeline.
    Tensor padded_rows{in.data(), {1, 16, 7, 7}, {16 * 7 * 9, 7 * 9, 9, 1}};
    EXPECT_EQ(layout_of(enough, padded_rows), Layout::nchw);
    // It checks the tensors as forward does.
    EXPECT_ERROR_MENTIONS(layout_of(enough, nchw(15, 7, 7)), "tensor x (input) has shape [1, 15, 7, 7]");
    EXPECT_ERROR_MENTIONS(enough.variant_for(ConstTensor::nchw(in.data(), 1, 16, 7, 7), Tensor::nchw(out.data(), 1, 16, 6, 7)),
                          "tensor y (output) has shape [1, 16, 6, 7]");
}

// Large Haar channels-last planes of more than one whole block of channels
// run the channel-blocked pipeline (the tensors copied block by block); 16
// channels, a partial block, small planes, general filters, the staged path
// and an output in another layout do not.
TEST(Variants, LargeChannelsLastPlanesRunBlocked) {
    Random rnd(42);
    const int64_t least = detail::channels_last_via_blocked_min_pixels() + 1;
    const int64_t H = 128, W = (least + H - 1) / H;
    Layer layer32 = random_layer({32, 5, 3, 1, "db1", true}, rnd).make_layer();
    Layer layer16 = random_layer({16, 5, 3, 1, "db1", true}, rnd).make_layer();
    Layer layer24 = random_layer({24, 5, 3, 1, "db1", true}, rnd).make_layer();
    Layer general32 = random_layer({32, 5, 3, 1, "db2", true}, rnd).make_layer();
    std::vector<float> in(size_t(32) * H * W), out(in.size());
    auto layout_of = [&](const Layer &l, int64_t C, int64_t h, int64_t w, Path p = Path::automatic) {
        return l.variant_for(ConstTensor::nhwc(in.data(), 1, C, h, w), Tensor::nhwc(out.data(), 1, C, h, w), p).layout;
    };
    EXPECT_EQ(layout_of(layer32, 32, H, W), Layout::nchw16c);
    EXPECT_EQ(layout_of(layer32, 32, H, W, Path::staged), Layout::nchw);
    EXPECT_EQ(layout_of(layer32, 32, 64, 64), least > 64 * 64 ? Layout::channels_last : Layout::nchw16c);
    EXPECT_EQ(layout_of(layer16, 16, H, W), Layout::channels_last);
    EXPECT_EQ(layout_of(layer24, 24, H, W), Layout::channels_last);
    EXPECT_EQ(layout_of(general32, 32, H, W), Layout::channels_last);
    // An NCHW output: the input's layout, channels-last, as it is.
    EXPECT_EQ(layer32.variant_for(ConstTensor::nhwc(in.data(), 1, 32, H, W), Tensor::nchw(out.data(), 1, 32, H, W)).layout,
              Layout::channels_last);
    detail::set_channels_last_via_blocked_min_pixels(std::numeric_limits<int64_t>::max());
    EXPECT_EQ(layout_of(layer32, 32, H, W), Layout::channels_last);
    detail::set_channels_last_via_blocked_min_pixels(-1);
}

// The layout repack (a transpose of pixels x channels per image) against an
// element-by-element copy, both ways, with channel and batch strides that
// are not the dense ones; views it cannot take are refused untouched.
TEST(Repack, BothLayoutsAgainstAnElementCopy) {
    Random rnd(40);
    for (int trial = 0; trial < 6; trial++) {
        const int64_t N = rnd.uniform(1, 3), C = rnd.uniform(16, 40), H = rnd.uniform(3, 30), W = rnd.uniform(6, 30);
        SCOPED_TRACE(detail::shape_string(std::array<int64_t, 4>{N, C, H, W}));
        const int64_t P = H * W, Cbig = C + 3;
        std::vector<float> x = rnd.nonzero_vector(size_t(N * Cbig * P));
        // NCHW view of channels 2 .. C+1 of a [N, C+3, H, W] tensor.
        const ConstTensor from{x.data() + 2 * P, {N, C, H, W}, {Cbig * P, P, W, 1}};
        std::vector<float> last(size_t(N * P * Cbig), -7.0f);
        const Tensor to{last.data(), {N, C, H, W}, {P * Cbig, 1, W * Cbig, Cbig}};  // channels-last, C+3 per pixel
        ASSERT_TRUE(detail::repack_layout(from, to));
        for (int64_t n = 0; n < N; n++)
            for (int64_t p = 0; p < P; p++)
                for (int64_t c = 0; c < Cbig; c++) {
                    const float got = last[size_t((n * P + p) * Cbig + c)];
                    if (c < C) {
                        ASSERT_EQ(got, x[size_t((n * Cbig + c + 2) * P + p)]) << "n " << n << " pixel " << p << " c " << c;
                    } else {
                        ASSERT_EQ(got, -7.0f) << "wrote outside the channels-last view";
                    }
                }
        std::vector<float> back(size_t(N * C * P), 0.0f);
        ASSERT_TRUE(detail::repack_layout(ConstTensor{to.data, to.shape, to.strides}, Tensor::nchw(back.data(), N, C, H, W)));
        for (int64_t n = 0; n < N; n++)
            for (int64_t c = 0; c < C; c++)
                for (int64_t p = 0; p < P; p++) ASSERT_EQ(back[size_t((n * C + c) * P + p)], x[size_t((n * Cbig + c + 2) * P + p)]);
    }
    // NCHW <-> channel-blocked, whole blocks: one repack per block.
    for (int trial = 0; trial < 3; trial++) {
        const int64_t N = rnd.uniform(1, 2), C = 16 * rnd.uniform(1, 3), H = rnd.uniform(4, 20), W = rnd.uniform(4, 20);
        SCOPED_TRACE("blocked " + detail::shape_string(std::array<int64_t, 4>{N, C, H, W}));
        std::vector<float> x = rnd.nonzero_vector(size_t(N * C * H * W)), blocked(x.size(), 0.0f), back(x.size(), 0.0f);
        const ConstTensor X = ConstTensor::nchw(x.data(), N, C, H, W);
        const Tensor B = Tensor::nchw16c(blocked.data(), N, C, H, W);
        ASSERT_TRUE(detail::repack_layout(X, B));
        ASSERT_TRUE(detail::repack_layout(B, Tensor::nchw(back.data(), N, C, H, W)));
        for (int64_t n = 0; n < N; n++)
            for (int64_t c = 0; c < C; c++)
                for (int64_t h = 0; h < H; h++)
                    for (int64_t w = 0; w < W; w++) {
                        ASSERT_EQ(blocked[size_t(detail::offset_of(B, n, c, h, w))], x[size_t(detail::offset_of(X, n, c, h, w))]);
                    }
        ASSERT_EQ(back, x);
    }
    // Plain channels-last <-> channel-blocked, whole blocks: 16 contiguous
    // floats per pixel and block, the plain view with spare channels per
    // pixel and spare pixels per row (neither written), any plane size.
    for (int trial = 0; trial < 4; trial++) {
        const int64_t N = rnd.uniform(1, 3), C = 16 * rnd.uniform(1, 3), H = rnd.uniform(1, 20), W = rnd.uniform(1, 20);
        const int64_t pixel = C + rnd.uniform(0, 3), row = W * pixel + rnd.uniform(0, 2) * pixel;
        SCOPED_TRACE("channels-last blocks " + detail::shape_string(std::array<int64_t, 4>{N, C, H, W}) + " pixel stride " +
                     std::to_string(pixel));
        std::vector<float> plain = rnd.nonzero_vector(size_t(N * H * row)), blocked(size_t(N * C * H * W), 0.0f);
        std::vector<float> back(plain.size(), -7.0f);
        const ConstTensor P{plain.data(), {N, C, H, W}, {H * row, 1, row, pixel}};
        const Tensor B = Tensor::nchw16c(blocked.data(), N, C, H, W);
        ASSERT_TRUE(detail::repack_layout(P, B));
        const Tensor Q{back.data(), P.shape, P.strides};
        ASSERT_TRUE(detail::repack_layout(B, Q));
        std::vector<bool> in_view(plain.size(), false);
        for (int64_t n = 0; n < N; n++)
            for (int64_t c = 0; c < C; c++)
                for (int64_t h = 0; h < H; h++)
                    for (int64_t w = 0; w < W; w++) {
                        const size_t at = size_t(detail::offset_of(P, n, c, h, w));
                        in_view[at] = true;
                        ASSERT_EQ(blocked[size_t(detail::offset_of(B, n, c, h, w))], plain[at]);
                        ASSERT_EQ(back[at], plain[at]);
                    }
        for (size_t i = 0; i < back.size(); i++) {
            if (!in_view[i]) ASSERT_EQ(back[i], -7.0f) << "wrote outside the channels-last view at " << i;
        }
    }
    std::vector<float> a(16 * 16 * 16, 1.0f), b(a.size(), 0.0f);
    // Channels-last with a partial last block: element copies instead.
    EXPECT_FALSE(detail::repack_layout(ConstTensor::nhwc(a.data(), 1, 24, 8, 8), Tensor::nchw16c(b.data(), 1, 24, 8, 8)));
    EXPECT_FALSE(detail::repack_layout(ConstTensor::nchw16c(a.data(), 1, 24, 8, 8), Tensor::nhwc(b.data(), 1, 24, 8, 8)));
    EXPECT_FALSE(detail::repack_layout(ConstTensor::nchw(a.data(), 1, 15, 16, 16), Tensor::nhwc(b.data(), 1, 15, 16, 16)));
    // A partial last block, and blocked to blocked: element copies instead.
    EXPECT_FALSE(detail::repack_layout(ConstTensor::nchw(a.data(), 1, 12, 16, 16), Tensor::nchw16c(b.data(), 1, 12, 16, 16)));
    EXPECT_FALSE(detail::repack_layout(ConstTensor::nchw16c(a.data(), 1, 16, 16, 16), Tensor::nchw16c(b.data(), 1, 16, 16, 16)));
    EXPECT_FALSE(detail::repack_layout(ConstTensor::nchw(a.data(), 1, 16, 3, 5), Tensor::nhwc(b.data(), 1, 16, 3, 5)));
    EXPECT_FALSE(detail::repack_layout(ConstTensor::nchw(a.data(), 1, 16, 8, 8), Tensor::nchw(b.data(), 1, 16, 8, 8)));
    EXPECT_TRUE(std::all_of(b.begin(), b.end(), [](float v) { return v == 0.0f; }));
}

// Small NCHW planes of 16+ channels, through both pipelines: dense (repacked
// into the channels-last pipeline, where the build enables it) and with
// padded rows (the NCHW pipeline), odd sizes and stride 2 included.
TEST(Forward, SmallNchwPlanesBothPipelines) {
    Random rnd(41);
    for (int trial = 0; trial < 4; trial++) {
        const int levels = rnd.uniform(1, 4), stride = trial == 3 ? 2 : 1;
        const LayerSpec layer_spec{int(rnd.uniform(16, 35)), 5, levels, stride, "db1", true};
        RandomLayer spec = random_layer(layer_spec, rnd);
        const int N = rnd.uniform(1, 2), C = spec.channels, H = rnd.uniform(5, 40), W = rnd.uniform(8, 40);
        SCOPED_TRACE(describe(layer_spec) + " " + detail::shape_string(std::array<int64_t, 4>{N, C, H, W}));
        Layer layer = spec.make_layer();
        const auto out = layer.output_shape({N, C, H, W});
        std::vector<float> x = rnd.nonzero_vector(size_t(N) * C * H * W);
        const std::vector<double> ref = reference_forward(spec, x, N, H, W), mag = reference_forward(spec, x, N, H, W, true);
        std::vector<float> y(size_t(out[0] * out[1] * out[2] * out[3]), std::nanf(""));
        layer.forward(ConstTensor::nchw(x.data(), N, C, H, W), Tensor::nchw(y.data(), out[0], out[1], out[2], out[3]));
        EXPECT_TRUE(matches_reference(y, ref, mag)) << "dense NCHW";
        // The same input with one spare column per row: the NCHW pipeline.
        std::vector<float> xp(size_t(N) * C * H * (W + 1), std::nanf(""));
        for (size_t row = 0; row < size_t(N) * C * H; row++) std::copy_n(&x[row * W], W, &xp[row * (W + 1)]);
        const ConstTensor xv{xp.data(), {N, C, H, W}, {int64_t(C) * H * (W + 1), int64_t(H) * (W + 1), W + 1, 1}};
        const Tensor yv = Tensor::nchw(y.data(), out[0], out[1], out[2], out[3]);
        EXPECT_EQ(layer.variant_for(xv, yv).layout, Layout::nchw);
        std::fill(y.begin(), y.end(), std::nanf(""));
        layer.forward(xv, yv);
        EXPECT_TRUE(matches_reference(y, ref, mag)) << "NCHW with padded rows";
    }
}

TEST(Forward, NaNPropagatesAsTheReferenceDoes) {
    Random rnd(36);
    RandomLayer spec = small_layer(rnd, 2);
    Layer layer = spec.make_layer();
    const int N = 1, C = 3, H = 20, W = 20;
    std::vector<float> x = rnd.nonzero_vector(size_t(N) * C * H * W);
    x[size_t(1) * H * W + 3 * W + 4] = std::nanf("");  // channel 1, (3, 4)
    std::vector<float> y(x.size());
    layer.forward(ConstTensor::nchw(x.data(), N, C, H, W), Tensor::nchw(y.data(), N, C, H, W));
    const std::vector<double> ref = reference_forward(spec, x, N, H, W);
    int nans = 0;
    for (size_t i = 0; i < y.size(); i++) {
        ASSERT_EQ(std::isnan(y[i]), std::isnan(ref[i])) << "at " << i;
        nans += std::isnan(y[i]);
    }
    EXPECT_GT(nans, 0);
    EXPECT_LT(nans, H * W);  // other channels and far pixels stay finite
}

TEST(Forward, StridedViewsInAndOut) {
    Random rnd(37);
    RandomLayer spec = random_layer({3, 5, 3, 2, "db1", true}, rnd);
    Layer layer = spec.make_layer();
    const int N = 2, C = 3, H = 15, W = 12;
    const auto out = layer.output_shape({N, C, H, W});
    std::vector<float> x = rnd.nonzero_vector(size_t(N) * C * H * W);
    std::vector<float> want(size_t(out[0] * out[1] * out[2] * out[3]));
    layer.forward(ConstTensor::nchw(x.data(), N, C, H, W), Tensor::nchw(want.data(), out[0], out[1], out[2], out[3]));
    EXPECT_TRUE(matches_reference(want, reference_forward(spec, x, N, H, W), reference_forward(spec, x, N, H, W, true)));

    // x as a crop at an offset inside a larger [N, C+1, H+3, W+5] tensor,
    // y as every other column of a wider tensor, with a sentinel elsewhere.
    const int BH = H + 3, BW = W + 5;
    std::vector<float> big(size_t(N) * (C + 1) * BH * BW, std::nanf(""));
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int h = 0; h < H; h++)
                for (int w = 0; w < W; w++)
                    big[((size_t(n) * (C + 1) + c + 1) * BH + h + 2) * BW + w + 3] = x[((size_t(n) * C + c) * H + h) * W + w];
    ConstTensor xv{big.data() + (1 * BH + 2) * BW + 3, {N, C, H, W}, {int64_t(C + 1) * BH * BW, int64_t(BH) * BW, BW, 1}};
    const int64_t Wy = 2 * out[3] + 1;
    std::vector<float> ybig(size_t(out[0] * out[1] * out[2]) * Wy, -1234.5f);
    Tensor yv{ybig.data(), out, {out[1] * out[2] * Wy, out[2] * Wy, Wy, 2}};
    layer.forward(xv, yv);
    for (int64_t n = 0; n < out[0]; n++)
        for (int64_t c = 0; c < out[1]; c++)
            for (int64_t h = 0; h < out[2]; h++)
                for (int64_t w = 0; w < Wy; w++) {
                    const float got = ybig[((n * out[1] + c) * out[2] + h) * Wy + w];
                    if (w % 2 == 0 && w / 2 < out[3]) {
                        ASSERT_EQ(got, want[((n * out[1] + c) * out[2] + h) * out[3] + w / 2]);
                    } else {
                        ASSERT_EQ(got, -1234.5f) << "wrote outside the output view";
                    }
                }
}

// Channel-blocked (nChw16c) tensors: contiguous, with gaps between images
// (run image by image), mixed with plain layouts on the other side (copied),
// through the staged path, for a layer with a partial last block; their pad
// lanes are written as zeros; malformed views are refused.
TEST(Forward, ChannelBlockedViews) {
    Random rnd(41);
    RandomLayer spec = random_layer({19, 5, 2, 1, "db1", true}, rnd);
    Layer layer = spec.make_layer();
    const int N = 2, C = 19, H = 13, W = 11, blocks = 2;
    std::vector<float> x = rnd.nonzero_vector(size_t(N) * C * H * W), want(x.size());
    layer.forward(ConstTensor::nchw(x.data(), N, C, H, W), Tensor::nchw(want.data(), N, C, H, W));
    ASSERT_TRUE(matches_reference(want, reference_forward(spec, x, N, H, W), reference_forward(spec, x, N, H, W, true)));

    // Blocked copies of x: dense, and with a gap of 7 floats after each image.
    const int64_t image = int64_t(blocks) * H * W * kChannelBlock;
    std::vector<float> dense = rnd.nonzero_vector(size_t(N * image)), gapped = rnd.nonzero_vector(size_t(N * (image + 7)));
    const Tensor Xd = Tensor::nchw16c(dense.data(), N, C, H, W);
    Tensor Xg = Tensor::nchw16c(gapped.data(), N, C, H, W);
    Xg.strides[0] = image + 7;
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int h = 0; h < H; h++)
                for (int w = 0; w < W; w++) {
                    const float v = x[((size_t(n) * C + c) * H + h) * W + w];
                    dense[detail::offset_of(Xd, n, c, h, w)] = v;
                    gapped[detail::offset_of(Xg, n, c, h, w)] = v;
                }
    auto expect_output = [&](const std::vector<float> &y, const Tensor &Y, const char *what) {
        SCOPED_TRACE(what);
        const int lanes = Y.channel_block ? blocks * kChannelBlock : C;
        for (int n = 0; n < N; n++)
            for (int c = 0; c < lanes; c++)
                for (int h = 0; h < H; h++)
                    for (int w = 0; w < W; w++) {
                        const float got = y[detail::offset_of(Y, n, c, h, w)];
                        const float ref = c < C ? want[((size_t(n) * C + c) * H + h) * W + w] : 0.0f;
                        ASSERT_NEAR(got, ref, 1e-5f * (1.0f + std::fabs(ref))) << "at " << n << ", " << c << ", " << h << ", " << w;
                    }
    };
    for (Path path : {Path::automatic, Path::fused_general, Path::staged}) {
        if (!compiled(path, 2)) continue;
        SCOPED_TRACE(to_string(path));
        for (const Tensor &X : {Xd, Xg}) {
            std::vector<float> y(size_t(N * image), std::nanf(""));
            const Tensor Y = Tensor::nchw16c(y.data(), N, C, H, W);
            EXPECT_EQ(layer.variant_for(X, Y, path).layout, path == Path::staged ? Layout::nchw : Layout::nchw16c);
            layer.forward(X, Y, path);
            expect_output(y, Y, X.strides[0] == image ? "dense" : "gaps between images");
        }
    }
    // Blocked in, NCHW out; NCHW in, blocked out.
    std::vector<float> y_nchw(x.size(), std::nanf(""));
    layer.forward(Xd, Tensor::nchw(y_nchw.data(), N, C, H, W));
    expect_output(y_nchw, Tensor::nchw(y_nchw.data(), N, C, H, W), "blocked to NCHW");
    std::vector<float> y_blocked(size_t(N * image), std::nanf(""));
    layer.forward(ConstTensor::nchw(x.data(), N, C, H, W), Tensor::nchw16c(y_blocked.data(), N, C, H, W));
    expect_output(y_blocked, Tensor::nchw16c(y_blocked.data(), N, C, H, W), "NCHW to blocked");

    // Fewer channels than a block: the pad lanes are most of it.
    RandomLayer few_spec = random_layer({3, 5, 3, 1, "db1", true}, rnd);
    Layer few = few_spec.make_layer();
    std::vector<float> x3 = rnd.nonzero_vector(size_t(3) * 20 * 9), y3(x3.size()), x3b(size_t(16) * 20 * 9, 0.5f),
                       y3b(x3b.size(), std::nanf(""));
    const Tensor X3 = Tensor::nchw16c(x3b.data(), 1, 3, 20, 9), Y3 = Tensor::nchw16c(y3b.data(), 1, 3, 20, 9);
    for (int c = 0; c < 3; c++)
        for (int h = 0; h < 20; h++)
            for (int w = 0; w < 9; w++) x3b[detail::offset_of(X3, 0, c, h, w)] = x3[(size_t(c) * 20 + h) * 9 + w];
    few.forward(X3, Y3);
    EXPECT_EQ(few.variant_for(X3, Y3).layout, Layout::nchw16c);
    for (int c = 0; c < 16; c++)
        for (int h = 0; h < 20; h++)
            for (int w = 0; w < 9; w++) {
                const float v = y3b[detail::offset_of(Y3, 0, c, h, w)];
                if (c < 3) {
                    y3[(size_t(c) * 20 + h) * 9 + w] = v;
                } else {
                    ASSERT_EQ(v, 0.0f) << "pad lane " << c;
                }
            }
    EXPECT_TRUE(matches_reference(y3, reference_forward(few_spec, x3, 1, 20, 9), reference_forward(few_spec, x3, 1, 20, 9, true)));
    // Malformed views.
    Tensor eight = Xd;
    eight.channel_block = 8;
    EXPECT_ERROR_MENTIONS(layer.forward(eight, Tensor::nchw(y_nchw.data(), N, C, H, W)), "channel_block 8");
    Tensor narrow = Xd;
    narrow.strides[3] = 8;
    EXPECT_ERROR_MENTIONS(layer.forward(narrow, Tensor::nchw(y_nchw.data(), N, C, H, W)), "width stride must be at least 16");
    // y starting in x's last pad lane overlaps it.
    EXPECT_ERROR_MENTIONS(layer.forward(Xd, Tensor::nchw(dense.data() + N * image - 1, N, C, H, W)), "overlap");
    std::string why;
    if (cuda_available(&why)) {
        EXPECT_ERROR_MENTIONS(layer.forward_cuda(Xd, Tensor::nchw(y_nchw.data(), N, C, H, W)), "channel-blocked");
    }
}

TEST(Forward, ConcurrentCallsOnOneLayer) {
    Random rnd(38);
    RandomLayer spec = random_layer({4, 5, 3, 1, "db1", true}, rnd);
    Layer layer = spec.make_layer();
    const int N = 1, C = 4, H = 33, W = 31;
    std::vector<std::vector<float>> xs, ys(6), want(6);
    for (int t = 0; t < 6; t++) {
        xs.push_back(rnd.nonzero_vector(size_t(N) * C * H * W));
        want[t].resize(xs[t].size());
        ys[t].resize(xs[t].size());
        layer.forward(ConstTensor::nchw(xs[t].data(), N, C, H, W), Tensor::nchw(want[t].data(), N, C, H, W));
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; t++) {
        threads.emplace_back([&, t] {
            for (int rep = 0; rep < 20; rep++) {
                layer.forward(ConstTensor::nchw(xs[t].data(), N, C, H, W), Tensor::nchw(ys[t].data(), N, C, H, W),
                              t % 2 && compiled(Path::fused_general, 3) ? Path::fused_general : Path::automatic);
            }
        });
    }
    for (auto &th : threads) th.join();
    for (int t = 0; t < 6; t++) {
        EXPECT_TRUE(matches_reference(ys[t], std::vector<double>(want[t].begin(), want[t].end()),
                                      reference_forward(spec, xs[t], N, H, W, true)));
    }
}

}  // namespace
}  // namespace wtconv::testing
