// Where a view's elements lie: the index arithmetic of plain strided views
// and of channel-blocked ones (wtconv.h, BasicTensor), in one place.
#pragma once

#include "wtconv/wtconv.h"

#include <algorithm>

namespace wtconv::detail {

template<typename T>
bool channel_blocked(const BasicTensor<T> &t) {
    return t.channel_block != 0;
}

// The extents the strides step over: N, C (or the channel blocks), H, W.
template<typename T>
std::array<int64_t, 4> strided_extents(const BasicTensor<T> &t) {
    return {t.shape[0], channel_blocked(t) ? t.channel_blocks() : t.shape[1], t.shape[2], t.shape[3]};
}

// The offset of element (n, c, h, w), in elements.
template<typename T>
int64_t offset_of(const BasicTensor<T> &t, int64_t n, int64_t c, int64_t h, int64_t w) {
    const int64_t lane = channel_blocked(t) ? c % kChannelBlock : 0;
    const int64_t channel_step = channel_blocked(t) ? c / kChannelBlock : c;
    return n * t.strides[0] + channel_step * t.strides[1] + h * t.strides[2] + w * t.strides[3] + lane;
}

// The largest offset the view touches (the pad lanes of a blocked one's
// last block included), for non-negative strides.
template<typename T>
int64_t last_offset(const BasicTensor<T> &t) {
    const std::array<int64_t, 4> extents = strided_extents(t);
    int64_t last = channel_blocked(t) ? kChannelBlock - 1 : 0;
    for (int d = 0; d < 4; d++) last += (extents[d] - 1) * std::max<int64_t>(t.strides[d], 0);
    return last;
}

// Elements of a contiguous tensor of this shape in `layout`.
inline size_t contiguous_elements(const std::array<int64_t, 4> &shape, Layout layout) {
    const int64_t channels = layout == Layout::nchw16c
                                 ? (shape[1] + kChannelBlock - 1) / kChannelBlock * kChannelBlock
                                 : shape[1];
    return size_t(shape[0] * channels * shape[2] * shape[3]);
}

// A contiguous tensor of this shape in `layout` at `data`
// (contiguous_elements(shape, layout) of them).
template<typename T>
BasicTensor<T> contiguous(T *data, const std::array<int64_t, 4> &s, Layout layout) {
    switch (layout) {
    case Layout::nchw: return BasicTensor<T>::nchw(data, s[0], s[1], s[2], s[3]);
    case Layout::channels_last: return BasicTensor<T>::nhwc(data, s[0], s[1], s[2], s[3]);
    case Layout::nchw16c: break;
    }
    return BasicTensor<T>::nchw16c(data, s[0], s[1], s[2], s[3]);
}

// Copies every element of `from` to `to` (same shape, any strides). The pad
// lanes of a channel-blocked `to` are zeroed, as the blocked pipelines
// leave them.
template<typename T>
void copy_elements(const BasicTensor<T> &from, const Tensor &to) {
    const int64_t channels = channel_blocked(to) ? to.channel_blocks() * kChannelBlock : to.shape[1];
    for (int64_t n = 0; n < from.shape[0]; n++)
        for (int64_t c = 0; c < channels; c++)
            for (int64_t h = 0; h < from.shape[2]; h++)
                for (int64_t w = 0; w < from.shape[3]; w++)
                    to.data[offset_of(to, n, c, h, w)] =
                        c < from.shape[1] ? from.data[offset_of(from, n, c, h, w)] : 0.0f;
}

}  // namespace wtconv::detail
