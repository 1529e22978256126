// wtconv run: weights and input from safetensors files, output to one.
#include "commands.h"

#include "shape_string.h"  // runtime/
#include "wtconv/safetensors.h"

#include <cstdio>

namespace wtconv::cli {

namespace {

// The prefix to load: the given one, else the file's only WTConv layer.
std::string choose_prefix(const RunOptions &o) {
    if (o.prefix) return *o.prefix;
    const std::vector<std::string> layers = list_layers(o.weights);
    if (layers.size() <= 1) return layers.empty() ? "" : layers[0];  // none: from_safetensors says what is missing
    std::string names;
    for (size_t i = 0; i < layers.size() && i < 4; i++) names += (i ? ", '" : "'") + layers[i] + "'";
    throw Error(o.weights + ": holds " + std::to_string(layers.size()) + " WTConv layers (" + names +
                (layers.size() > 4 ? ", ..." : "") + "): choose one with --prefix");
}

}  // namespace

void run(const RunOptions &o) {
    check_device(o.device);
    const std::string prefix = choose_prefix(o);
    const Layer layer = Layer::from_safetensors(o.weights, prefix, o.stride, o.wavelet);

    const TensorMap inputs = read_safetensors(o.input, "input");
    auto it = inputs.find("input");
    if (it == inputs.end()) throw Error(o.input + ": no tensor 'input' (the input must be named 'input')");
    const FloatTensor &x = it->second;
    if (x.shape.size() != 4 || x.shape[1] != layer.channels()) {
        throw Error(o.input + ": tensor 'input' has shape " + detail::shape_string(x.shape) +
                    ": expected [N, C, H, W] with C = " + std::to_string(layer.channels()) + " (the layer's channels)");
    }
    const std::array<int64_t, 4> in_shape = {x.shape[0], x.shape[1], x.shape[2], x.shape[3]};
    const std::array<int64_t, 4> out_shape = layer.output_shape(in_shape);
    FloatTensor y{{out_shape.begin(), out_shape.end()}, {}};
    y.values.resize(size_t(out_shape[0] * out_shape[1] * out_shape[2] * out_shape[3]));
    const auto X = ConstTensor::nchw(x.values.data(), in_shape[0], in_shape[1], in_shape[2], in_shape[3]);
    const auto Y = Tensor::nchw(y.values.data(), out_shape[0], out_shape[1], out_shape[2], out_shape[3]);
    try {
        layer.forward(X, Y);
    } catch (const Error &e) {
        throw Error(o.input + ": " + e.what());
    }
    write_safetensors(o.output, {{"output", y}});

    const Variant v = layer.variant_for(X, Y);
    std::printf("%s: output %s from input %s (layer '%s': C=%d k=%d levels=%d stride=%d, %s/%s/%s)\n",
                o.output.c_str(), detail::shape_string(out_shape).c_str(), detail::shape_string(in_shape).c_str(),
                prefix.c_str(), layer.channels(), layer.kernel_size(), layer.levels(), layer.stride(),
                to_string(v.path), to_string(v.layout), v.isa.c_str());
}

}  // namespace wtconv::cli
