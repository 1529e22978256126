// wtconv::Layer: argument checks, path choice, and the copies that let any
// strided view reach pipelines that want unit width stride.
#include "wtconv/wtconv.h"

#include "cpu_isa.h"
#include "cuda.h"
#include "pipelines.h"
#include "shape_string.h"
#include "tensor_index.h"
#include "wavelets.h"
#include "weights.h"

#include <cstring>
#include <limits>
#include <sstream>
#include <vector>

namespace wtconv {

using detail::PreparedWeights;
using detail::shape_string;

const char *to_string(Path path) {
    switch (path) {
    case Path::automatic: return "automatic";
    case Path::fused_haar: return "fused_haar";
    case Path::fused_general: return "fused_general";
    case Path::staged: return "staged";
    }
    return "unknown";
}

const char *to_string(Layout layout) {
    switch (layout) {
    case Layout::nchw: return "nchw";
    case Layout::channels_last: return "channels_last";
    case Layout::nchw16c: return "nchw16c";
    }
    return "unknown";
}

struct Layer::Impl {
    PreparedWeights weights;
    int stride = 1;
    // Device copies of the weights, per CUDA context; freed with the layer.
    std::unique_ptr<detail::CudaWeights> cuda = std::make_unique<detail::CudaWeights>();
};

namespace {

void check_stride(int stride) {
    if (stride < 1) throw Error("stride must be >= 1, got " + std::to_string(stride));
}

// Halide indexes with int32: every extent, stride and offset must fit.
template<typename T>
void check_tensor(const BasicTensor<T> &t, const char *name) {
    for (int d = 0; d < 4; d++) {
        if (t.shape[d] < 1) {
            throw Error(std::string("tensor ") + name + " has shape " + shape_string(t.shape) +
                        ": every size must be >= 1");
        }
        if (t.strides[d] < 1 && t.shape[d] > 1) {
            throw Error(std::string("tensor ") + name + " has strides " + shape_string(t.strides) +
                        ": strides must be positive");
        }
    }
    if (t.data == nullptr) throw Error(std::string("tensor ") + name + " has no data (null pointer)");
    if (t.channel_block != 0 && t.channel_block != kChannelBlock) {
        throw Error(std::string("tensor ") + name + " has channel_block " + std::to_string(t.channel_block) +
                    ": only 0 (plain strides) and " + std::to_string(kChannelBlock) + " (nChw16c) are supported");
    }
    if (detail::channel_blocked(t) && t.strides[3] < kChannelBlock) {
        throw Error(std::string("tensor ") + name + " is channel-blocked with strides " + shape_string(t.strides) +
                    ": the width stride must be at least " + std::to_string(kChannelBlock) +
                    " (each pixel holds a block of 16 channels)");
    }
    const std::array<int64_t, 4> extents = detail::strided_extents(t);
    int64_t last = detail::channel_blocked(t) ? kChannelBlock - 1 : 0;
    for (int d = 0; d < 4; d++) {
        const int64_t stride = std::max<int64_t>(t.strides[d], 0);
        if (stride > std::numeric_limits<int32_t>::max() || t.shape[d] > std::numeric_limits<int32_t>::max() ||
            (extents[d] - 1) > (std::numeric_limits<int32_t>::max() - last) / std::max<int64_t>(stride, 1)) {
            throw Error(std::string("tensor ") + name + " with shape " + shape_string(t.shape) +
                        " and strides " + shape_string(t.strides) + " spans more than 2^31 elements");
        }
        last += (extents[d] - 1) * stride;
    }
}

// [first, last] byte addresses a view touches.
template<typename T>
std::pair<uintptr_t, uintptr_t> byte_range(const BasicTensor<T> &t) {
    const uintptr_t first = reinterpret_cast<uintptr_t>(t.data);
    return {first, first + uintptr_t(detail::last_offset(t)) * sizeof(float) + sizeof(float) - 1};
}

// Whether a view can be handed to a pipeline of `layout` as it is: the
// pipelines read NCHW rows with unit width stride, channels-last pixels
// with unit channel stride, and channel-blocked tensors as they are.
template<typename T>
bool fits(const BasicTensor<T> &t, Layout layout) {
    if (detail::channel_blocked(t) || layout == Layout::nchw16c) {
        return detail::channel_blocked(t) && layout == Layout::nchw16c;
    }
    return layout == Layout::nchw ? (t.strides[3] == 1 || t.shape[3] == 1) : (t.strides[1] == 1 || t.shape[1] == 1);
}

// Unit strides on size-1 dimensions, so Halide's stride constraints hold.
template<typename T>
BasicTensor<T> normalized(BasicTensor<T> t, Layout layout) {
    if (layout == Layout::nchw && t.shape[3] == 1) t.strides[3] = 1;
    if (layout == Layout::channels_last && t.shape[1] == 1) t.strides[1] = 1;
    return t;
}

}  // namespace

Layer::Layer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Layer::Layer(Layer &&) noexcept = default;
Layer &Layer::operator=(Layer &&) noexcept = default;
Layer::~Layer() = default;

Layer Layer::from_state_dict(const StateDict &tensors, const std::string &prefix, int stride,
                             const std::optional<std::string> &wavelet) {
    check_stride(stride);
    auto impl = std::make_unique<Impl>();
    impl->weights = detail::prepare_weights(tensors, prefix, wavelet);
    impl->stride = stride;
    return Layer(std::move(impl));
}

Layer Layer::from_config(const Config &config, const StateDict &tensors, const std::string &prefix) {
    if (config.channels < 1) throw Error("config.channels must be >= 1, got " + std::to_string(config.channels));
    if (config.kernel_size < 1) throw Error("config.kernel_size must be >= 1, got " + std::to_string(config.kernel_size));
    if (config.levels < 0) throw Error("config.levels must be >= 0, got " + std::to_string(config.levels));
    detail::wavelet_filters(config.wavelet);  // throws on an unknown name
    for (const char *filter : {"wt_filter", "iwt_filter"}) {
        if (tensors.count(prefix + filter)) {
            throw Error("tensor '" + prefix + filter + "' given with a config: the config's wavelet ('" +
                        config.wavelet + "') defines the filters; use Layer::from_state_dict to load custom filters");
        }
    }
    Layer layer = from_state_dict(tensors, prefix, config.stride, config.wavelet);
    const PreparedWeights &w = layer.impl_->weights;
    auto mismatch = [&](const std::string &what, int want, int got, const std::string &tensor) {
        throw Error("config." + what + " is " + std::to_string(want) + " but tensor '" + prefix + tensor +
                    "' implies " + std::to_string(got));
    };
    if (w.channels != config.channels) mismatch("channels", config.channels, w.channels, "base_conv.weight");
    if (w.kernel_size != config.kernel_size) mismatch("kernel_size", config.kernel_size, w.kernel_size, "base_conv.weight");
    if (w.levels != config.levels) {
        mismatch("levels", config.levels, w.levels, "wavelet_convs." + std::to_string(w.levels - 1) + ".weight");
    }
    if (w.bias != config.bias) {
        throw Error(std::string("config.bias is ") + (config.bias ? "true" : "false") + " but tensor '" + prefix +
                    "base_conv.bias' is " + (w.bias ? "present" : "missing"));
    }
    return layer;
}

std::vector<std::string> Layer::wavelets() { return detail::wavelet_names(); }

int Layer::channels() const { return impl_->weights.channels; }
int Layer::kernel_size() const { return impl_->weights.kernel_size; }
int Layer::levels() const { return impl_->weights.levels; }
int Layer::stride() const { return impl_->stride; }
int Layer::filter_size() const { return impl_->weights.analysis_taps; }
bool Layer::has_bias() const { return impl_->weights.bias; }
bool Layer::is_haar() const { return impl_->weights.haar; }

std::array<int64_t, 4> Layer::output_shape(const std::array<int64_t, 4> &s) const {
    return {s[0], s[1], (s[2] - 1) / impl_->stride + 1, (s[3] - 1) / impl_->stride + 1};
}

Layout Layer::layout_for(const ConstTensor &x, const Tensor &y) {
    // The input's layout wins; an input that fits both (C or W of 1) or
    // neither follows the output.
    if (detail::channel_blocked(x)) return Layout::nchw16c;
    const bool x_nchw = fits(x, Layout::nchw), x_last = fits(x, Layout::channels_last);
    if (x_last && !x_nchw) return Layout::channels_last;
    if (x_nchw && !x_last) return Layout::nchw;
    return fits(y, Layout::channels_last) && !fits(y, Layout::nchw) ? Layout::channels_last : Layout::nchw;
}

Variant Layer::variant(Path path, Layout layout) const {
    const PreparedWeights &w = impl_->weights;
    const bool haar_ok = w.haar && detail::has_fused_variant(true, w.levels);
    const bool general_ok = detail::has_fused_variant(false, w.levels);
    if (path == Path::automatic) {
        path = haar_ok ? Path::fused_haar : general_ok ? Path::fused_general : Path::staged;
    }
    if (path == Path::fused_haar && !haar_ok) {
        throw Error("path fused_haar needs Haar (db1) filters and a compiled level count (" +
                    detail::fused_levels_text(true) + " levels); this layer has " +
                    (w.haar ? "Haar" : "non-Haar") + " filters (F = " + std::to_string(w.analysis_taps) +
                    ") and " + std::to_string(w.levels) + " levels");
    }
    if (path == Path::fused_general && !general_ok) {
        throw Error("path fused_general covers " + detail::fused_levels_text(false) +
                    " levels; this layer has " + std::to_string(w.levels) + " (use the staged path)");
    }
    // Channel-blocked tensors hold whole blocks of 16 channels (the pad
    // lanes computed with zero weights), so any channel count runs them.
    const bool nchw_only = path == Path::staged ||
                           (layout != Layout::nchw16c && w.channels < detail::kChannelsLastMinChannels);
    return {path, nchw_only ? Layout::nchw : layout, w.levels, detail::dispatched_isa()};
}

namespace {

// Shapes, strides, index limits and overlap: the same for CPU and CUDA forwards.
void check_forward_arguments(const Layer &layer, const ConstTensor &x, const Tensor &y) {
    check_tensor(x, "x (input)");
    check_tensor(y, "y (output)");
    if (x.shape[1] != layer.channels()) {
        throw Error("tensor x (input) has shape " + shape_string(x.shape) + ": the layer has " +
                    std::to_string(layer.channels()) + " channels");
    }
    const std::array<int64_t, 4> want = layer.output_shape(x.shape);
    if (y.shape != want) {
        throw Error("tensor y (output) has shape " + shape_string(y.shape) + ": expected " + shape_string(want) +
                    " for input " + shape_string(x.shape) + " and stride " + std::to_string(layer.stride()));
    }
    const auto xr = byte_range(x), yr = byte_range(y);
    if (xr.first <= yr.second && yr.first <= xr.second) {
        throw Error("tensors x (input) and y (output) overlap in memory: forward cannot run in place");
    }
}

}  // namespace

Variant Layer::variant_for(const ConstTensor &x, const Tensor &y, Path path) const {
    check_forward_arguments(*this, x, y);
    Variant v = variant(path, layout_for(x, y));
    // Small NCHW planes: the channels-last pipeline, when both tensors can
    // be repacked (views that cannot would go through element-wise copies,
    // which cost more than the NCHW pipeline saves).
    if (v.layout == Layout::nchw && v.path != Path::staged &&
        x.shape[2] * x.shape[3] <= detail::nchw_via_channels_last_max_pixels() && detail::repackable(x, false) &&
        detail::repackable(y, false)) {
        v.layout = Layout::channels_last;
    }
    // Large channels-last planes of several blocks of channels, Haar: the
    // channel-blocked pipeline, the tensors copied block by block
    // (detail::channels_last_via_blocked_min_pixels). Exactly 16 channels
    // already run it in place. The general path's two layouts ran within
    // 0.97-0.98 of each other there, so the copies were a loss (1.03-1.11).
    if (v.layout == Layout::channels_last && v.path == Path::fused_haar && x.shape[1] > kChannelBlock &&
        x.shape[2] * x.shape[3] > detail::channels_last_via_blocked_min_pixels() &&
        detail::channels_last_whole_blocks(x) && detail::channels_last_whole_blocks(y)) {
        v.layout = Layout::nchw16c;
    }
    return v;
}

namespace {

// A per-thread array for the repacked copies of a forward's tensors, kept
// between calls (most layers run the same shapes again and again) unless it
// is large.
class RepackScratch {
public:
    float *get(size_t elements) {
        if (data_.size() < elements) data_.resize(elements);
        return data_.data();
    }
    void release_if_large() {
        constexpr size_t kKeepElements = size_t(16) << 20;  // 64 MB
        if (data_.size() > kKeepElements) std::vector<float>().swap(data_);
    }

private:
    std::vector<float> data_;
};

thread_local RepackScratch repack_scratch[2];

}  // namespace

namespace {

// Whether a channel-blocked view's images and blocks form one dimension
// (image n's blocks run on into image n + 1's), as the blocked pipelines
// take them (pipelines.h, halide_view).
template<typename T>
bool images_follow_blocks(const BasicTensor<T> &t) {
    return t.shape[0] == 1 || t.strides[0] == t.channel_blocks() * t.strides[1];
}

// Image n of a view.
template<typename T>
BasicTensor<T> image(BasicTensor<T> t, int64_t n) {
    t.data += n * t.strides[0];
    t.shape[0] = 1;
    return t;
}

}  // namespace

void Layer::forward(const ConstTensor &x, const Tensor &y, Path path) const {
    const PreparedWeights &w = impl_->weights;
    const Variant v = variant_for(x, y, path);  // checks the tensors first

    // Views a pipeline cannot take as they are go through a contiguous copy
    // in its layout: repacked (a vectorized transpose) where the views allow,
    // element by element otherwise.
    ConstTensor xin = x;
    Tensor yout = y;
    if (!fits(x, v.layout)) {
        Tensor packed = detail::contiguous(repack_scratch[0].get(detail::contiguous_elements(x.shape, v.layout)), x.shape,
                                   v.layout);
        if (!detail::repack_layout(x, packed)) detail::copy_elements(x, packed);
        xin = packed;
    }
    const bool scatter_y = !fits(y, v.layout);
    if (scatter_y) {
        yout = detail::contiguous(repack_scratch[1].get(detail::contiguous_elements(y.shape, v.layout)), y.shape, v.layout);
    }

    auto run = [&](const ConstTensor &from, const Tensor &to) {
        detail::InputBuffer hx = detail::halide_view(normalized(from, v.layout));
        detail::OutputBuffer hy = detail::halide_view(normalized(to, v.layout));
        if (v.path == Path::staged) {
            detail::run_staged(w, impl_->stride, hx, hy);
        } else {
            detail::run_fused(w, v.path == Path::fused_haar, v.layout, impl_->stride, hx, hy);
        }
    };
    if (v.layout == Layout::nchw16c && !(images_follow_blocks(xin) && images_follow_blocks(yout))) {
        for (int64_t n = 0; n < x.shape[0]; n++) run(image(xin, n), image(yout, n));
    } else {
        run(xin, yout);
    }
    if (scatter_y) {
        const ConstTensor result = yout;
        if (!detail::repack_layout(result, y)) detail::copy_elements(result, y);
    }
    for (RepackScratch &scratch : repack_scratch) scratch.release_if_large();
}

// ---- CUDA ----

bool cuda_available(std::string *why) {
    try {
        return detail::cuda_probe(why);
    } catch (...) {
        if (why) *why = "CUDA probe failed";
        return false;
    }
}

Variant Layer::variant_cuda(Path path) const {
    const PreparedWeights &w = impl_->weights;
    const int haar_max = detail::max_cuda_levels(true), general_max = detail::max_cuda_levels(false);
    if (!detail::cuda_built()) throw Error("variant_cuda: this libwtconv was built without CUDA (WTCONV_CUDA=OFF)");
    const bool haar_ok = w.haar && w.levels >= 1 && w.levels <= haar_max;
    const bool general_ok = w.levels >= 1 && w.levels <= general_max;
    if (path == Path::automatic) {
        if (!haar_ok && !general_ok) {
            throw Error("no CUDA pipeline covers " + std::to_string(w.levels) + " levels (CUDA runs 1 to " +
                        std::to_string(general_max) + "; the staged path is CPU only)");
        }
        path = haar_ok ? Path::fused_haar : Path::fused_general;
    }
    if (path == Path::staged) throw Error("path staged has no CUDA variant (CPU only)");
    if (path == Path::fused_haar && !haar_ok) {
        throw Error("path fused_haar on CUDA needs Haar (db1) filters and at most " + std::to_string(haar_max) +
                    " levels; this layer has " + (w.haar ? "Haar" : "non-Haar") + " filters (F = " +
                    std::to_string(w.analysis_taps) + ") and " + std::to_string(w.levels) + " levels");
    }
    if (path == Path::fused_general && !general_ok) {
        throw Error("path fused_general on CUDA covers 1 to " + std::to_string(general_max) +
                    " levels; this layer has " + std::to_string(w.levels));
    }
    return {path, Layout::nchw, w.levels, "cuda_sm80"};
}

void Layer::forward_cuda(const ConstTensor &x, const Tensor &y, const CudaExecution &exec, Path path) const {
    check_forward_arguments(*this, x, y);
    for (const auto &[blocked, name] : {std::pair<bool, const char *>{detail::channel_blocked(x), "x (input)"},
                                        {detail::channel_blocked(y), "y (output)"}}) {
        if (blocked) {
            throw Error(std::string("forward_cuda: tensor ") + name +
                        " is channel-blocked (nChw16c): CUDA pipelines read NCHW only");
        }
    }
    for (const auto &[t, name] : {std::pair<std::array<int64_t, 4>, const char *>{x.strides, "x (input)"},
                                  {y.strides, "y (output)"}}) {
        if (t[3] != 1 && (name[0] == 'x' ? x.shape[3] : y.shape[3]) != 1) {
            throw Error(std::string("forward_cuda: tensor ") + name + " has strides " + shape_string(t) +
                        ": CUDA pipelines read NCHW rows, width stride must be 1 (no copies are made on the device)");
        }
    }
    std::string why;
    if (!detail::cuda_probe(&why)) throw Error("forward_cuda: CUDA is not available: " + why);
    const Variant v = variant_cuda(path);
    detail::run_fused_cuda(impl_->weights, *impl_->cuda, v.path == Path::fused_haar, impl_->stride, x, y, exec);
}

}  // namespace wtconv
