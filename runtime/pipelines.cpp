#include "pipelines.h"

#include "cpu_isa.h"
#include "scratch_allocator.h"
#include "thread_pool.h"

#include "../schedules/variant_limits.h"

#include "HalideRuntime.h"
#include "wtconv_repack_to_channels_last.h"
#include "wtconv_repack_to_nchw.h"
#include "wtconv_stage_band_conv.h"
#include "wtconv_stage_base.h"
#include "wtconv_stage_depthwise.h"
#include "wtconv_stage_dwt.h"
#include "wtconv_stage_idwt.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>
#include <vector>

#if defined(__SSE2__)
#include <immintrin.h>  // streaming stores (copy_channel_blocks)
#endif

// The fused variants, declared from the generated table (CMake names them).
#define WTCONV_FUSED_VARIANT(haar, channels_last, levels, plane, large, huge, blocked, fn)       \
    extern "C" int fn(halide_buffer_t *, halide_buffer_t *, halide_buffer_t *, halide_buffer_t *, \
                      halide_buffer_t *, halide_buffer_t *, int32_t, halide_buffer_t *);
#include "wtconv_variants.inc"
#undef WTCONV_FUSED_VARIANT

namespace wtconv::detail {
namespace {

using FusedFn = int (*)(halide_buffer_t *, halide_buffer_t *, halide_buffer_t *, halide_buffer_t *,
                        halide_buffer_t *, halide_buffer_t *, int32_t, halide_buffer_t *);
struct FusedVariant {
    bool haar, channels_last;
    int levels;
    int plane;   // plane variants: N x N planes, k = kUnrolledKernel, stride 1 only; 0: any
    bool large;  // large-plane variants: more than kChannelsLastStripMinPixels pixels, stride 1 only
    bool huge;   // huge-plane ones (large too): more than huge_plane_min_pixels() pixels
    bool blocked;  // dense channel-blocked views only (dense_blocked_view)
    FusedFn fn;
    const char *name;
};

// Plane variants first, then huge-plane and large-plane ones, each kind's
// channel-blocked variant before the one for any channels-last tensor:
// run_fused takes the first variant that fits.
const std::vector<FusedVariant> &fused_variants() {
    static const std::vector<FusedVariant> variants = [] {
        std::vector<FusedVariant> table = {
#define WTCONV_FUSED_VARIANT(haar, channels_last, levels, plane, large, huge, blocked, fn) \
    {haar, channels_last, levels, plane, large, huge, blocked, fn, #fn},
#include "wtconv_variants.inc"
#undef WTCONV_FUSED_VARIANT
        };
        auto rank = [](const FusedVariant &v) {
            return (v.plane > 0 ? 0 : v.huge ? 2 : v.large ? 4 : 6) + (v.blocked ? 0 : 1);
        };
        std::stable_sort(table.begin(), table.end(),
                         [&](const FusedVariant &a, const FusedVariant &b) { return rank(a) < rank(b); });
        return table;
    }();
    return variants;
}

// A view the channel-blocked variants take (generator parameter
// channel_blocked): kChannelBlock channels per pixel (a channel-blocked
// tensor's view, or a channels-last one of exactly that many channels),
// then pixels, rows and blocks back to back.
bool dense_blocked_view(const halide_buffer_t &b) {
    const halide_dimension_t *d = b.dim;
    const int64_t pixel = kChannelBlock, row = pixel * d[0].extent, plane = row * d[1].extent;
    return d[2].extent == kChannelBlock && d[2].stride == 1 && d[0].stride == pixel && d[1].stride == row &&
           d[3].stride == plane;
}

thread_local const char *last_fused_variant = "";

// On cores with less L2 cache than this (Zen 3: 512 KiB), the huge-plane
// variants take every plane the large-plane ones would. There level 2's
// whole-plane arrays (its band sums and IDWT: 800 KB a 16-channel task at
// 224 x 224) leave L2 from about 180 x 180 on, and computing level 2 in
// the strips keeps them out: 1024 x 1024 0.85-0.86 of the large-plane
// variant, 224 x 224 and 512 x 512 0.89-1.06, about 0.96 on the whole
// (PERFORMANCE.md, step 46). A 2 MB L2 (the AVX-512 Xeon) holds them up
// to about 1355 x 1355 (kChannelsLastHugeMinPixels).
constexpr long kSmallL2Bytes = 1L << 20;

// The huge-plane variants' threshold (pixels) on this machine. Tests may
// override it (set_huge_plane_min_pixels).
int64_t huge_plane_threshold_override = -1;

int64_t huge_plane_min_pixels() {
    if (huge_plane_threshold_override >= 0) return huge_plane_threshold_override;
    static const int64_t pixels = l2_cache_bytes() > 0 && l2_cache_bytes() < kSmallL2Bytes
                                      ? int64_t(kChannelsLastStripMinPixels)
                                      : int64_t(kChannelsLastHugeMinPixels);
    return pixels;
}

// Halide reports errors through a process-wide handler (the default one
// aborts); ours keeps the message for the thread that made the call.
thread_local std::string last_halide_error;

void keep_halide_error(void *, const char *message) { last_halide_error = message; }

void install_error_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        halide_set_error_handler(keep_halide_error);
        install_isa_cap();
        install_scratch_allocator();
        install_thread_pool();
    });
}

void check(int result, const char *pipeline) {
    if (result != 0) {
        std::string message = last_halide_error;
        last_halide_error.clear();
        throw Error(std::string("pipeline ") + pipeline + " failed (Halide error " +
                    std::to_string(result) + "): " + message);
    }
}

// Channel-blocked tensors: (x, y, 16 channels, image-and-block), each image
// of the view one block of channels (the blocked pipelines' weights say
// which; images_follow_blocks in layer.cpp holds).
template<typename T>
Halide::Runtime::Buffer<T, 4> make_view(const BasicTensor<T> &t) {
    if (channel_blocked(t)) {
        halide_dimension_t dims[4] = {
            {0, int32_t(t.shape[3]), int32_t(t.strides[3])},
            {0, int32_t(t.shape[2]), int32_t(t.strides[2])},
            {0, int32_t(kChannelBlock), 1},
            {0, int32_t(t.shape[0] * t.channel_blocks()), int32_t(t.strides[1])},
        };
        return Halide::Runtime::Buffer<T, 4>(t.data, 4, dims);
    }
    halide_dimension_t dims[4] = {
        {0, int32_t(t.shape[3]), int32_t(t.strides[3])},
        {0, int32_t(t.shape[2]), int32_t(t.strides[2])},
        {0, int32_t(t.shape[1]), int32_t(t.strides[1])},
        {0, int32_t(t.shape[0]), int32_t(t.strides[0])},
    };
    return Halide::Runtime::Buffer<T, 4>(t.data, 4, dims);
}

}  // namespace

void install_halide_error_handler() { install_error_handler(); }
void check_halide(int result, const char *pipeline) { check(result, pipeline); }

InputBuffer halide_view(const ConstTensor &t) { return make_view(t); }
OutputBuffer halide_view(const Tensor &t) { return make_view(t); }

int nchw_via_channels_last_max_pixels() { return WTCONV_NCHW_VIA_CHANNELS_LAST_MAX_PIXELS; }

namespace {

// The repack pipelines tile one vector of pixels by one of channels (16 at
// most, AVX-512), shifted inwards at the edges.
constexpr int64_t kRepackTile = 16;
static_assert(kRepackTile >= kChannelsLastMinChannels, "a repacked layer must suit the channels-last pipeline");

// Whether a tensor's planes are contiguous runs of pixels: NCHW with pixel
// stride 1, or channels-last with unit channel stride, rows back to back.
template<typename T>
bool contiguous_pixels(const BasicTensor<T> &t, bool channels_last) {
    const int64_t pixel_stride = t.strides[3];
    if (channels_last ? t.strides[1] != 1 : pixel_stride != 1) return false;
    return t.strides[2] == t.shape[3] * pixel_stride || t.shape[2] == 1;
}

template<typename T>
bool repackable_view(const BasicTensor<T> &t, bool channels_last) {
    return !channel_blocked(t) && t.shape[1] >= kRepackTile && t.shape[2] * t.shape[3] >= kRepackTile && contiguous_pixels(t, channels_last);
}

// The (pixel, c, n) view of a repackable tensor.
template<typename T>
Halide::Runtime::Buffer<T, 3> pixel_view(const BasicTensor<T> &t) {
    halide_dimension_t dims[3] = {
        {0, int32_t(t.shape[2] * t.shape[3]), int32_t(t.strides[3])},
        {0, int32_t(t.shape[1]), int32_t(t.strides[1])},
        {0, int32_t(t.shape[0]), int32_t(t.strides[0])},
    };
    return Halide::Runtime::Buffer<T, 3>(t.data, 3, dims);
}

}  // namespace

bool repackable(const ConstTensor &t, bool channels_last) { return repackable_view(t, channels_last); }

namespace {

// Block b of a channel-blocked tensor, as a channels-last tensor of 16
// channels; channels [16 b, 16 b + 16) of a plain one.
template<typename T>
BasicTensor<T> channel_block_view(const BasicTensor<T> &t, int64_t b) {
    if (channel_blocked(t)) {
        return {t.data + b * t.strides[1], {t.shape[0], kChannelBlock, t.shape[2], t.shape[3]},
                {t.strides[0], 1, t.strides[2], t.strides[3]}};
    }
    return {t.data + b * kChannelBlock * t.strides[1], {t.shape[0], kChannelBlock, t.shape[2], t.shape[3]}, t.strides};
}

}  // namespace

bool channels_last_whole_blocks(const ConstTensor &t) {
    return !channel_blocked(t) && t.strides[1] == 1 && t.shape[1] % kChannelBlock == 0;
}

namespace {

// One row (image n, row y) of every block per task: 64-byte copies, the
// plain view's pixels read in order, one write stream per block. Aligned
// destinations take streaming stores, which skip reading the lines they
// overwrite: the routed tensors (4 MB and more) leave the cache anyway
// (160 x 160 to 512 x 512: 0.92-0.93 of the forward with plain copies;
// PERFORMANCE.md, step 48).
struct BlockCopy {
    ConstTensor from;
    Tensor to;
};

int copy_block_rows(void *, int row, uint8_t *closure) {
    const BlockCopy &c = *reinterpret_cast<const BlockCopy *>(closure);
    const int64_t H = c.from.shape[2], W = c.from.shape[3], n = row / H, y = row % H;
    const int64_t from_pixel = c.from.strides[3], to_pixel = c.to.strides[3];
    for (int64_t b = 0; b < c.from.shape[1] / kChannelBlock; b++) {
        const float *src = c.from.data + offset_of(c.from, n, b * kChannelBlock, y, 0);
        float *dst = c.to.data + offset_of(c.to, n, b * kChannelBlock, y, 0);
#if defined(__SSE2__)
        if (reinterpret_cast<uintptr_t>(dst) % 16 == 0 && to_pixel % 4 == 0) {
            for (int64_t x = 0; x < W; x++) {
                const float *s = src + x * from_pixel;
                float *d = dst + x * to_pixel;
                for (int i = 0; i < kChannelBlock; i += 4) _mm_stream_ps(d + i, _mm_loadu_ps(s + i));
            }
            continue;
        }
#endif
        for (int64_t x = 0; x < W; x++) {
            std::memcpy(dst + x * to_pixel, src + x * from_pixel, kChannelBlock * sizeof(float));
        }
    }
#if defined(__SSE2__)
    _mm_sfence();
#endif
    return 0;
}

}  // namespace

bool copy_channel_blocks(const ConstTensor &from, const Tensor &to) {
    if (from.shape != to.shape || channel_blocked(from) == channel_blocked(to)) return false;
    if (!channels_last_whole_blocks(channel_blocked(from) ? ConstTensor(to) : from)) return false;
    const int64_t rows = from.shape[0] * from.shape[2];
    if (rows > std::numeric_limits<int>::max()) return false;
    install_error_handler();  // and the thread pool
    BlockCopy c{from, to};
    check(halide_do_par_for(nullptr, copy_block_rows, 0, int(rows), reinterpret_cast<uint8_t *>(&c)),
          "copy_channel_blocks");
    return true;
}

bool repack_layout(const ConstTensor &from, const Tensor &to) {
    if (from.shape != to.shape) return false;
    if (copy_channel_blocks(from, to)) return true;
    if (channel_blocked(from) || channel_blocked(to)) {
        // NCHW <-> channel-blocked, whole blocks only: each block is an
        // NCHW <-> channels-last repack of 16 channels.
        if (channel_blocked(from) == channel_blocked(to) || from.shape[1] % kChannelBlock != 0) return false;
        const int64_t blocks = from.shape[1] / kChannelBlock;
        for (int64_t b = 0; b < blocks; b++) {
            if (!repackable_view(channel_block_view(from, b), channel_blocked(from)) ||
                !repackable_view(channel_block_view(to, b), channel_blocked(to))) {
                return false;
            }
        }
        for (int64_t b = 0; b < blocks; b++) repack_layout(channel_block_view(from, b), channel_block_view(to, b));
        return true;
    }
    for (bool to_channels_last : {true, false}) {
        if (!repackable_view(from, !to_channels_last) || !repackable_view(to, to_channels_last)) continue;
        install_error_handler();
        auto in = pixel_view(from);  // Halide takes non-const halide_buffer_t*; the input is only read.
        auto out = pixel_view(to);
        check(to_channels_last ? wtconv_repack_to_channels_last(in.raw_buffer(), out.raw_buffer())
                               : wtconv_repack_to_nchw(in.raw_buffer(), out.raw_buffer()),
              to_channels_last ? "repack_to_channels_last" : "repack_to_nchw");
        return true;
    }
    return false;
}

bool has_fused_variant(bool haar, int levels) {
    bool layout[2] = {false, false};
    for (const FusedVariant &v : fused_variants()) {
        if (v.haar == haar && v.levels == levels && v.plane == 0 && !v.large) layout[v.channels_last] = true;
    }
    return layout[0] && layout[1];
}

std::string fused_levels_text(bool haar) {
    std::vector<int> levels;
    for (int l = 1; l <= 64; l++) {
        if (has_fused_variant(haar, l)) levels.push_back(l);
    }
    if (levels.empty()) return "none";
    if (levels.size() > 2 && levels.back() - levels.front() + 1 == int(levels.size())) {
        return std::to_string(levels.front()) + " to " + std::to_string(levels.back());
    }
    std::string text;
    for (size_t i = 0; i < levels.size(); i++) {
        text += (i == 0 ? "" : i + 1 == levels.size() ? " and " : ", ") + std::to_string(levels[i]);
    }
    return text;
}

void run_fused(const PreparedWeights &w, bool haar, Layout layout, int stride, const InputBuffer &x,
               OutputBuffer &y) {
    install_error_handler();
    // Channel-blocked tensors run the channels-last variants (the view's
    // images are blocks), with the weights of every block, pad lanes
    // included; plain channels-last ones with the layer's channels only (the
    // variants take the weights' channel count as the number of blocks).
    const bool channels_last = layout != Layout::nchw;
    const int channels = layout == Layout::nchw16c ? w.base_weight_last.dim(2).extent() : w.channels;
    // A plane variant where one fits the planes, kernel and stride, a
    // large-plane variant for large planes (they come first in the table),
    // else the variant for any size.
    auto fits = [&](const FusedVariant &v) {
        if (v.haar != haar || v.channels_last != channels_last || v.levels != w.levels) return false;
        if (v.blocked && !(dense_blocked_view(*x.raw_buffer()) && dense_blocked_view(*y.raw_buffer()))) return false;
        if (v.large) {
            const int64_t pixels = int64_t(x.dim(0).extent()) * x.dim(1).extent();
            return pixels > (v.huge ? huge_plane_min_pixels() : kChannelsLastStripMinPixels) && stride == 1;
        }
        if (v.plane == 0) return true;
        return x.dim(0).extent() == v.plane && x.dim(1).extent() == v.plane && y.dim(0).extent() == v.plane &&
               y.dim(1).extent() == v.plane && w.kernel_size == kUnrolledKernel && stride == 1;
    };
    for (const FusedVariant &v : fused_variants()) {
        if (fits(v)) {
            // Halide takes non-const halide_buffer_t*; the inputs are only read.
            auto in = x;
            auto base_weight = channels_last ? w.base_weight_last.cropped(2, 0, channels) : w.base_weight;
            auto base_bias = channels_last ? w.base_bias_last.cropped(0, 0, channels) : w.base_bias;
            auto band_weight = channels_last ? w.band_weight_last.cropped(3, 0, channels) : w.band_weight;
            auto analysis = channels_last ? w.analysis_last.cropped(3, 0, channels) : w.analysis;
            auto synthesis = channels_last ? w.synthesis_last.cropped(3, 0, channels) : w.synthesis;
            last_fused_variant = v.name;
            check(v.fn(in.raw_buffer(), base_weight.raw_buffer(), base_bias.raw_buffer(),
                       band_weight.raw_buffer(), analysis.raw_buffer(), synthesis.raw_buffer(), stride,
                       y.raw_buffer()),
                  haar ? "fused_haar" : "fused_general");
            return;
        }
    }
    throw Error("no fused " + std::string(haar ? "Haar" : "general") + " " + to_string(layout) +
                " variant for " + std::to_string(w.levels) + " levels");
}

const char *last_fused_variant_name() { return last_fused_variant; }

void set_huge_plane_min_pixels(int64_t pixels) { huge_plane_threshold_override = pixels; }

namespace {

// About 157 x 157: 160 x 160 and larger planes ran 0.88-0.94 of the
// channels-last pipeline's time, 130 x 130 and 136 x 136 1.06-1.12 (the
// copies cost more than the blocked pipeline saves; PERFORMANCE.md, step 48).
constexpr int64_t kChannelsLastViaBlockedMinPixels = int64_t(3) << 13;
int64_t channels_last_via_blocked_override = -1;

}  // namespace

int64_t channels_last_via_blocked_min_pixels() {
    return channels_last_via_blocked_override >= 0 ? channels_last_via_blocked_override
                                                   : int64_t(kChannelsLastViaBlockedMinPixels);
}

void set_channels_last_via_blocked_min_pixels(int64_t pixels) { channels_last_via_blocked_override = pixels; }

void run_staged(const PreparedWeights &w, int stride, const InputBuffer &x, OutputBuffer &y) {
    install_error_handler();
    const int C = x.dim(2).extent(), N = x.dim(3).extent();
    auto analysis = w.analysis;
    auto synthesis = w.synthesis;

    // Down: DWT then band conv at every level, all through memory.
    std::vector<Halide::Runtime::Buffer<float, 5>> convs;
    std::vector<std::pair<int, int>> sizes = {{x.dim(0).extent(), x.dim(1).extent()}};
    InputBuffer ll = x;
    for (int l = 0; l < w.levels; l++) {
        const int wl = (sizes.back().first + 1) / 2, hl = (sizes.back().second + 1) / 2;
        sizes.push_back({wl, hl});
        Halide::Runtime::Buffer<float, 5> bands(wl, hl, 4, C, N);
        check(wtconv_stage_dwt(ll.raw_buffer(), analysis.raw_buffer(), bands.raw_buffer()), "stage_dwt");
        Halide::Runtime::Buffer<float, 5> conv(wl, hl, 4, C, N);
        auto weight = w.band_weight.sliced(4, l);
        check(wtconv_stage_band_conv(bands.raw_buffer(), weight.raw_buffer(), conv.raw_buffer()),
              "stage_band_conv");
        convs.push_back(std::move(conv));
        ll = bands.sliced(2, 0);  // the raw LL band is the next level's input (shares bands' memory)
    }

    // Up: IDWT of each level with the reconstruction from below.
    Halide::Runtime::Buffer<float, 4> below(sizes.back().first, sizes.back().second, C, N);
    below.fill(0.0f);
    for (int l = w.levels - 1; l >= 0; l--) {
        Halide::Runtime::Buffer<float, 4> up(sizes[l].first, sizes[l].second, C, N);
        check(wtconv_stage_idwt(convs[l].raw_buffer(), below.raw_buffer(), synthesis.raw_buffer(),
                                up.raw_buffer()),
              "stage_idwt");
        below = std::move(up);
    }

    auto in = x;
    auto base_weight = w.base_weight;
    auto base_bias = w.base_bias;
    check(wtconv_stage_base(in.raw_buffer(), base_weight.raw_buffer(), base_bias.raw_buffer(),
                            below.raw_buffer(), stride, y.raw_buffer()),
          "stage_base");
}

void run_depthwise(const Halide::Runtime::Buffer<float, 3> &weight, const InputBuffer &x, OutputBuffer &y) {
    install_error_handler();
    auto in = x;
    auto wt = weight;
    check(wtconv_stage_depthwise(in.raw_buffer(), wt.raw_buffer(), y.raw_buffer()), "depthwise");
}

}  // namespace wtconv::detail
