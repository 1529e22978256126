#include "weights.h"

#include "shape_string.h"
#include "wavelets.h"

#include <cmath>
#include <sstream>

namespace wtconv::detail {
namespace {

int64_t element_count(const std::vector<int64_t> &shape) {
    int64_t count = 1;
    for (int64_t d : shape) count *= d;
    return count;
}

// The tensors of one layer: lookups by short name, errors with full names.
class LayerTensors {
public:
    LayerTensors(const StateDict &tensors, std::string prefix)
        : tensors_(tensors), prefix_(std::move(prefix)) {}

    bool has(const std::string &name) const { return tensors_.count(prefix_ + name) != 0; }

    std::string full_name(const std::string &name) const { return prefix_ + name; }

    // The tensor, checked to be 4-D (or `dims`-D) with positive sizes and data.
    const TensorView &get_any_shape(const std::string &name, size_t dims) const {
        auto it = tensors_.find(prefix_ + name);
        if (it == tensors_.end()) {
            throw Error("missing tensor '" + prefix_ + name + "' in the state dict");
        }
        const TensorView &t = it->second;
        if (t.shape.size() != dims) {
            throw Error("tensor '" + prefix_ + name + "' has shape " + shape_string(t.shape) +
                        ": expected " + std::to_string(dims) + " dimensions");
        }
        for (int64_t d : t.shape) {
            if (d < 1 || d > (int64_t(1) << 31) - 1) {
                throw Error("tensor '" + prefix_ + name + "' has shape " + shape_string(t.shape) +
                            ": every size must be in [1, 2^31)");
            }
        }
        if (t.data == nullptr) throw Error("tensor '" + prefix_ + name + "' has no data (null pointer)");
        return t;
    }

    // The tensor, checked to have exactly `shape`.
    const TensorView &get(const std::string &name, const std::vector<int64_t> &shape) const {
        const TensorView &t = get_any_shape(name, shape.size());
        if (t.shape != shape) {
            throw Error("tensor '" + prefix_ + name + "' has shape " + shape_string(t.shape) +
                        ": expected " + shape_string(shape));
        }
        return t;
    }

private:
    const StateDict &tensors_;
    std::string prefix_;
};

// wt_filter / iwt_filter [4C, 1, F, F], F even: the module's transforms
// only produce the right sizes for even, square filters.
int filter_taps(const LayerTensors &t, const std::string &name, int channels) {
    const TensorView &f = t.get_any_shape(name, 4);
    const int64_t taps = f.shape[2];
    if (f.shape[0] != 4 * int64_t(channels) || f.shape[1] != 1 || f.shape[3] != taps ||
        taps % 2 != 0) {
        throw Error("tensor '" + t.full_name(name) + "' has shape " + shape_string(f.shape) +
                    ": expected [" + std::to_string(4 * int64_t(channels)) +
                    ", 1, F, F] with F even (the filter size)");
    }
    return static_cast<int>(taps);
}

Halide::Runtime::Buffer<float, 4> filter_buffer(const float *data, int taps, int channels) {
    Halide::Runtime::Buffer<float, 4> b(taps, taps, 4, channels);
    std::copy(data, data + int64_t(taps) * taps * 4 * channels, b.data());
    return b;
}

// A copy of b with dimension `c_dim` innermost in memory.
template<int D>
Halide::Runtime::Buffer<float, D> channels_innermost(const Halide::Runtime::Buffer<float, D> &b, int c_dim) {
    std::vector<int> sizes, order = {c_dim};
    for (int d = 0; d < D; d++) {
        sizes.push_back(b.dim(d).extent());
        if (d != c_dim) order.push_back(d);
    }
    // Whole channel blocks (wtconv.h, kChannelBlock), the pad channels zero.
    sizes[c_dim] = int((sizes[c_dim] + kChannelBlock - 1) / kChannelBlock * kChannelBlock);
    Halide::Runtime::Buffer<float, D> out(sizes, order);
    out.fill(0.0f);
    out.copy_from(b);
    return out;
}

bool matches_every_channel(const Halide::Runtime::Buffer<float, 4> &b, const std::vector<float> &one) {
    const size_t per_channel = one.size();
    for (int c = 0; c < b.dim(3).extent(); c++) {
        const float *p = b.data() + size_t(c) * per_channel;
        for (size_t i = 0; i < per_channel; i++) {
            if (!(p[i] == one[i])) return false;
        }
    }
    return true;
}

}  // namespace

PreparedWeights prepare_weights(const StateDict &tensors, const std::string &prefix,
                                const std::optional<std::string> &wavelet) {
    LayerTensors t(tensors, prefix);
    PreparedWeights w;

    const TensorView &base = t.get_any_shape("base_conv.weight", 4);
    const int64_t C = base.shape[0], k = base.shape[2];
    if (base.shape[1] != 1 || base.shape[3] != k) {
        throw Error("tensor '" + t.full_name("base_conv.weight") + "' has shape " +
                    shape_string(base.shape) + ": expected [C, 1, k, k] (a depthwise kernel)");
    }
    if (4 * C * k * k > (int64_t(1) << 31) - 1) {
        throw Error("tensor '" + t.full_name("base_conv.weight") + "' is too large: shape " +
                    shape_string(base.shape));
    }
    w.channels = static_cast<int>(C);
    w.kernel_size = static_cast<int>(k);
    const TensorView &base_scale = t.get("base_scale.weight", {1, C, 1, 1});

    // Levels: as many as there are consecutive wavelet_convs.{i}. Zero is a
    // layer the reference module accepts too (wt_levels=0: the base conv only).
    while (t.has("wavelet_convs." + std::to_string(w.levels) + ".weight")) w.levels++;
    if (t.has("wavelet_scale." + std::to_string(w.levels) + ".weight")) {
        throw Error("tensor '" + t.full_name("wavelet_scale." + std::to_string(w.levels) + ".weight") +
                    "' has no matching '" +
                    t.full_name("wavelet_convs." + std::to_string(w.levels) + ".weight") + "'");
    }

    // Base conv with base_scale folded into weights and bias.
    w.base_weight = Halide::Runtime::Buffer<float, 3>(w.kernel_size, w.kernel_size, w.channels);
    w.base_bias = Halide::Runtime::Buffer<float, 1>(w.channels);
    w.bias = t.has("base_conv.bias");
    const float *bias = w.bias ? t.get("base_conv.bias", {C}).data : nullptr;
    for (int64_t c = 0; c < C; c++) {
        const float s = base_scale.data[c];
        for (int64_t i = 0; i < k * k; i++) w.base_weight.data()[c * k * k + i] = s * base.data[c * k * k + i];
        w.base_bias(c) = bias ? s * bias[c] : 0.0f;
    }

    // Band convs with wavelet_scale folded in.
    w.band_weight = Halide::Runtime::Buffer<float, 5>(w.kernel_size, w.kernel_size, 4, w.channels, w.levels);
    for (int l = 0; l < w.levels; l++) {
        const std::string level = std::to_string(l);
        const TensorView &conv = t.get("wavelet_convs." + level + ".weight", {4 * C, 1, k, k});
        const TensorView &scale = t.get("wavelet_scale." + level + ".weight", {1, 4 * C, 1, 1});
        float *dst = w.band_weight.data() + l * 4 * C * k * k;
        for (int64_t cb = 0; cb < 4 * C; cb++) {
            for (int64_t i = 0; i < k * k; i++) dst[cb * k * k + i] = scale.data[cb] * conv.data[cb * k * k + i];
        }
    }

    // Filters: from the state dict when it has them, else from the wavelet.
    const bool has_analysis = t.has("wt_filter"), has_synthesis = t.has("iwt_filter");
    if (has_analysis != has_synthesis) {
        throw Error("the state dict has '" + t.full_name(has_analysis ? "wt_filter" : "iwt_filter") +
                    "' but not '" + t.full_name(has_analysis ? "iwt_filter" : "wt_filter") +
                    "': give both filter tensors or neither (and a wavelet name)");
    }
    if (has_analysis) {
        w.analysis_taps = filter_taps(t, "wt_filter", w.channels);
        w.synthesis_taps = filter_taps(t, "iwt_filter", w.channels);
        w.analysis = filter_buffer(t.get_any_shape("wt_filter", 4).data, w.analysis_taps, w.channels);
        w.synthesis = filter_buffer(t.get_any_shape("iwt_filter", 4).data, w.synthesis_taps, w.channels);
    } else {
        if (!wavelet) {
            throw Error("missing tensors '" + t.full_name("wt_filter") + "' and '" +
                        t.full_name("iwt_filter") + "' in the state dict: give a wavelet name");
        }
        WaveletFilters f = wavelet_filters(*wavelet);
        w.analysis_taps = w.synthesis_taps = f.taps;
        w.analysis = Halide::Runtime::Buffer<float, 4>(f.taps, f.taps, 4, w.channels);
        w.synthesis = Halide::Runtime::Buffer<float, 4>(f.taps, f.taps, 4, w.channels);
        for (int c = 0; c < w.channels; c++) {
            std::copy(f.analysis.begin(), f.analysis.end(), w.analysis.data() + size_t(c) * f.analysis.size());
            std::copy(f.synthesis.begin(), f.synthesis.end(), w.synthesis.data() + size_t(c) * f.synthesis.size());
        }
    }

    w.base_bias_last = channels_innermost(w.base_bias, 0);
    w.base_weight_last = channels_innermost(w.base_weight, 2);
    w.band_weight_last = channels_innermost(w.band_weight, 3);
    w.analysis_last = channels_innermost(w.analysis, 3);
    w.synthesis_last = channels_innermost(w.synthesis, 3);

    const WaveletFilters haar = wavelet_filters("db1");
    w.haar = w.analysis_taps == 2 && w.synthesis_taps == 2 &&
             matches_every_channel(w.analysis, haar.analysis) &&
             matches_every_channel(w.synthesis, haar.synthesis);
    return w;
}

}  // namespace wtconv::detail
