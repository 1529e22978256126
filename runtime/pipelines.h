// Calling the AOT pipelines: the fused variants (dispatched by level count
// and path), the staged path, and the plain depthwise conv. Inputs here are
// already checked by the caller (layer.cpp); Halide's own checks stay on as
// a second line, their failures turned into wtconv::Error.
#pragma once

#include "tensor_index.h"
#include "weights.h"

#include <cstdint>
#include <string>

namespace wtconv::detail {

using InputBuffer = Halide::Runtime::Buffer<const float, 4>;
using OutputBuffer = Halide::Runtime::Buffer<float, 4>;

// Halide's errors become wtconv::Error: install the handler once before a
// call, then check its result.
void install_halide_error_handler();
void check_halide(int result, const char *pipeline);

// A Halide view (x, y, c, n) of a tensor (any strides; the pipelines want
// width stride 1 for NCHW and channel stride 1 for channels-last). A
// channel-blocked tensor's view has 16 channels and N x blocks images.
InputBuffer halide_view(const ConstTensor &t);
OutputBuffer halide_view(const Tensor &t);

// The channels-last pipelines are compiled for whole vectors of channels
// (16 on AVX-512); layers with fewer channels run the NCHW pipeline.
constexpr int kChannelsLastMinChannels = 16;

// NCHW layers whose planes have at most this many pixels run the
// channels-last pipeline, repacked on the way in and out: vectors along
// width waste most lanes on small planes (docs/PERFORMANCE.md, step 15).
// A build option (WTCONV_NCHW_VIA_CHANNELS_LAST_MAX_PIXELS); 0 in
// autoscheduled builds, whose own NCHW schedules are what they are compared on.
int nchw_via_channels_last_max_pixels();

// Copies `from` into `to` (same shape) when one is NCHW with contiguous
// planes and the other channels-last with contiguous pixels, both with at
// least one full vector of pixels and of channels (16): a vectorized,
// parallel transpose per image. Also NCHW <-> channel-blocked with whole
// blocks: one such transpose per block. Returns false, copying nothing, for any
// other pair of views.
bool repack_layout(const ConstTensor &from, const Tensor &to);
// Copies `from` into `to` (same shape) when one is channel-blocked and the
// other a plain channels-last view of whole blocks (unit channel stride, a
// multiple of 16 channels, any pixel, row and image strides): 16 contiguous
// floats per pixel and block, rows in parallel. Returns false, copying
// nothing, for any other pair. repack_layout tries it first.
bool copy_channel_blocks(const ConstTensor &from, const Tensor &to);
// Whether `t` is such a plain channels-last view: unit channel stride, a
// multiple of 16 channels (each block's channels of a pixel contiguous).
bool channels_last_whole_blocks(const ConstTensor &t);
// Whether repack_layout can take `t` in that layout: contiguous planes of
// pixels, at least one full vector of pixels and of channels.
bool repackable(const ConstTensor &t, bool channels_last);

// Whether the fused variants (both layouts) of a path exist for a level
// count: builds may compile any subset (WTCONV_HAAR_LEVELS, WTCONV_GENERAL_LEVELS).
bool has_fused_variant(bool haar, int levels);
// The compiled level counts of a path, for messages: "1 to 8", "2, 3 and 5", "none".
std::string fused_levels_text(bool haar);

// The fused variant this thread ran last (its generated name): what the
// tests read to see that the dispatch took the variant they mean to cover.
const char *last_fused_variant_name();

// Tests only: the plane size (pixels) above which the huge-plane variants
// run, instead of the machine's (huge_plane_min_pixels); -1 restores
// it. Not thread-safe: set it before the forwards.
void set_huge_plane_min_pixels(int64_t pixels);

// Haar channels-last layers of more than 16 channels, whole blocks of them,
// whose planes have more than this many pixels run the channel-blocked
// pipeline, copied into nChw16c on the way in and out (Layer::variant_for).
// A channels-last task reads one block's 64 bytes of each pixel, a stride
// of C floats: on large planes that ran 1.5-1.9x the blocked pipeline's
// time (docs/PERFORMANCE.md, step 48). Tests may override it (-1 restores).
int64_t channels_last_via_blocked_min_pixels();
void set_channels_last_via_blocked_min_pixels(int64_t pixels);

void run_fused(const PreparedWeights &w, bool haar, Layout layout, int stride, const InputBuffer &x,
               OutputBuffer &y);
void run_staged(const PreparedWeights &w, int stride, const InputBuffer &x, OutputBuffer &y);

// y = conv_same(x, weight(kx, ky, c)), a plain depthwise k x k conv.
void run_depthwise(const Halide::Runtime::Buffer<float, 3> &weight, const InputBuffer &x,
                   OutputBuffer &y);

}  // namespace wtconv::detail
