// wtconv::Layer: argument checks, path choice, and the copies that let any
// strided view reach pipelines that want unit width stride.
#include "wtconv/wtconv.h"

#include "pipelines.h"
#include "wavelets.h"
#include "weights.h"

#include <cstring>
#include <limits>
#include <sstream>

namespace wtconv {

using detail::PreparedWeights;

const char *to_string(Path path) {
    switch (path) {
    case Path::automatic: return "automatic";
    case Path::fused_haar: return "fused_haar";
    case Path::fused_general: return "fused_general";
    case Path::staged: return "staged";
    }
    return "unknown";
}

struct Layer::Impl {
    PreparedWeights weights;
    int stride = 1;
};

namespace {

std::string shape_string(const std::array<int64_t, 4> &s) {
    std::ostringstream o;
    o << "[" << s[0] << ", " << s[1] << ", " << s[2] << ", " << s[3] << "]";
    return o.str();
}

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
    int64_t last = 0;
    for (int d = 0; d < 4; d++) {
        const int64_t stride = std::max<int64_t>(t.strides[d], 0);
        if (stride > std::numeric_limits<int32_t>::max() || t.shape[d] > std::numeric_limits<int32_t>::max() ||
            (t.shape[d] - 1) > (std::numeric_limits<int32_t>::max() - last) / std::max<int64_t>(stride, 1)) {
            throw Error(std::string("tensor ") + name + " with shape " + shape_string(t.shape) +
                        " and strides " + shape_string(t.strides) + " spans more than 2^31 elements");
        }
        last += (t.shape[d] - 1) * stride;
    }
}

// [first, last] byte addresses a view touches.
template<typename T>
std::pair<uintptr_t, uintptr_t> byte_range(const BasicTensor<T> &t) {
    int64_t last = 0;
    for (int d = 0; d < 4; d++) last += (t.shape[d] - 1) * std::max<int64_t>(t.strides[d], 0);
    const uintptr_t first = reinterpret_cast<uintptr_t>(t.data);
    return {first, first + uintptr_t(last) * sizeof(float) + sizeof(float) - 1};
}

// A contiguous copy of x, for views whose width stride is not 1.
std::vector<float> packed_copy(const ConstTensor &x) {
    std::vector<float> out(size_t(x.shape[0] * x.shape[1] * x.shape[2] * x.shape[3]));
    size_t i = 0;
    for (int64_t n = 0; n < x.shape[0]; n++)
        for (int64_t c = 0; c < x.shape[1]; c++)
            for (int64_t h = 0; h < x.shape[2]; h++)
                for (int64_t w = 0; w < x.shape[3]; w++)
                    out[i++] = x.data[n * x.strides[0] + c * x.strides[1] + h * x.strides[2] + w * x.strides[3]];
    return out;
}

void scatter(const std::vector<float> &packed, const Tensor &y) {
    size_t i = 0;
    for (int64_t n = 0; n < y.shape[0]; n++)
        for (int64_t c = 0; c < y.shape[1]; c++)
            for (int64_t h = 0; h < y.shape[2]; h++)
                for (int64_t w = 0; w < y.shape[3]; w++)
                    y.data[n * y.strides[0] + c * y.strides[1] + h * y.strides[2] + w * y.strides[3]] = packed[i++];
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
    if (config.levels < 1) throw Error("config.levels must be >= 1, got " + std::to_string(config.levels));
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

Variant Layer::variant(Path path) const {
    const PreparedWeights &w = impl_->weights;
    const bool haar_ok = w.haar && w.levels <= detail::max_fused_levels(true);
    const bool general_ok = w.levels <= detail::max_fused_levels(false);
    if (path == Path::automatic) {
        path = haar_ok ? Path::fused_haar : general_ok ? Path::fused_general : Path::staged;
    }
    if (path == Path::fused_haar && !haar_ok) {
        throw Error("path fused_haar needs Haar (db1) filters and at most " +
                    std::to_string(detail::max_fused_levels(true)) + " levels; this layer has " +
                    (w.haar ? "Haar" : "non-Haar") + " filters (F = " + std::to_string(w.analysis_taps) +
                    ") and " + std::to_string(w.levels) + " levels");
    }
    if (path == Path::fused_general && !general_ok) {
        throw Error("path fused_general covers at most " + std::to_string(detail::max_fused_levels(false)) +
                    " levels; this layer has " + std::to_string(w.levels) + " (use the staged path)");
    }
    return {path, w.levels, detail::dispatched_isa()};
}

void Layer::forward(const ConstTensor &x, const Tensor &y, Path path) const {
    const PreparedWeights &w = impl_->weights;
    check_tensor(x, "x (input)");
    check_tensor(y, "y (output)");
    if (x.shape[1] != w.channels) {
        throw Error("tensor x (input) has shape " + shape_string(x.shape) + ": the layer has " +
                    std::to_string(w.channels) + " channels");
    }
    const std::array<int64_t, 4> want = output_shape(x.shape);
    if (y.shape != want) {
        throw Error("tensor y (output) has shape " + shape_string(y.shape) + ": expected " + shape_string(want) +
                    " for input " + shape_string(x.shape) + " and stride " + std::to_string(impl_->stride));
    }
    const auto xr = byte_range(x), yr = byte_range(y);
    if (xr.first <= yr.second && yr.first <= xr.second) {
        throw Error("tensors x (input) and y (output) overlap in memory: forward cannot run in place");
    }
    const Variant v = variant(path);

    // The pipelines read and write rows with unit stride; other views go
    // through a packed copy.
    std::vector<float> x_packed, y_packed;
    ConstTensor xin = x;
    Tensor yout = y;
    if (x.strides[3] != 1 && x.shape[3] > 1) {
        x_packed = packed_copy(x);
        xin = ConstTensor::nchw(x_packed.data(), x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    }
    const bool scatter_y = y.strides[3] != 1 && y.shape[3] > 1;
    if (scatter_y) {
        y_packed.resize(size_t(y.shape[0] * y.shape[1] * y.shape[2] * y.shape[3]));
        yout = Tensor::nchw(y_packed.data(), y.shape[0], y.shape[1], y.shape[2], y.shape[3]);
    }
    if (xin.shape[3] == 1) xin.strides[3] = 1;
    if (yout.shape[3] == 1) yout.strides[3] = 1;

    detail::InputBuffer hx = detail::halide_view(xin);
    detail::OutputBuffer hy = detail::halide_view(yout);
    if (v.path == Path::staged) {
        detail::run_staged(w, impl_->stride, hx, hy);
    } else {
        detail::run_fused(w, v.path == Path::fused_haar, impl_->stride, hx, hy);
    }
    if (scatter_y) scatter(y_packed, y);
}

}  // namespace wtconv
