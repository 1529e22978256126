// Builds a layer from a config whose band convs are zero and whose base conv
// is the identity: y = base_scale * (x + bias) exactly. Exits non-zero on
// any mismatch.
#include <wtconv/safetensors.h>
#include <wtconv/wtconv.h>

#include <cmath>
#include <cstdio>
#include <vector>

int main(int argc, char **argv) {
    const std::string file = argc > 1 ? argv[1] : "consumer_layer.safetensors";  // written, then read back
    const int C = 2, k = 3, L = 2, N = 1, H = 9, W = 7;
    std::vector<float> base(C * k * k, 0.0f), bias = {0.5f, -1.25f}, scale = {2.0f, -3.0f};
    for (int c = 0; c < C; c++) base[c * k * k + 4] = 1.0f;  // centre tap
    std::vector<float> band(4 * C * k * k, 0.0f), band_scale(4 * C, 0.1f);
    wtconv::StateDict sd = {
        {"base_conv.weight", {base.data(), {C, 1, k, k}}},
        {"base_conv.bias", {bias.data(), {C}}},
        {"base_scale.weight", {scale.data(), {1, C, 1, 1}}},
    };
    for (int i = 0; i < L; i++) {
        sd["wavelet_convs." + std::to_string(i) + ".weight"] = {band.data(), {4 * C, 1, k, k}};
        sd["wavelet_scale." + std::to_string(i) + ".weight"] = {band_scale.data(), {1, 4 * C, 1, 1}};
    }
    wtconv::Layer layer = wtconv::Layer::from_config({C, k, L, "db1", 1, true}, sd);
    std::vector<float> x(N * C * H * W), y(x.size());
    for (size_t i = 0; i < x.size(); i++) x[i] = 0.25f * float(i % 13) - 1.0f;
    layer.forward(wtconv::ConstTensor::nchw(x.data(), N, C, H, W), wtconv::Tensor::nchw(y.data(), N, C, H, W));
    for (size_t i = 0; i < x.size(); i++) {
        const int c = int(i / (H * W));
        const float want = scale[c] * (x[i] + bias[c]);
        if (std::fabs(y[i] - want) > 1e-5f * (1 + std::fabs(want))) {
            std::printf("mismatch at %zu: %g vs %g\n", i, y[i], want);
            return 1;
        }
    }
    try {
        layer.forward(wtconv::ConstTensor::nchw(x.data(), N, C + 1, H, W), wtconv::Tensor::nchw(y.data(), N, C, H, W));
        std::printf("no error for a wrong channel count\n");
        return 1;
    } catch (const wtconv::Error &e) {
        std::printf("expected error: %s\n", e.what());
    }
    // The same layer through a safetensors file (the installed library's reader and writer).
    wtconv::TensorMap tensors;
    for (const auto &[name, view] : sd) {
        size_t count = 1;
        for (int64_t d : view.shape) count *= size_t(d);
        tensors["blocks.3." + name] = {view.shape, std::vector<float>(view.data, view.data + count)};
    }
    wtconv::write_safetensors(file, tensors);
    const std::vector<std::string> layers = wtconv::list_layers(file);
    const wtconv::Layer loaded = wtconv::Layer::from_safetensors(file, "blocks.3.", 1, "db1");
    std::vector<float> y2(y.size());
    loaded.forward(wtconv::ConstTensor::nchw(x.data(), N, C, H, W), wtconv::Tensor::nchw(y2.data(), N, C, H, W));
    if (layers != std::vector<std::string>{"blocks.3."} || y2 != y) {
        std::printf("safetensors round trip differs\n");
        return 1;
    }
    std::printf("consumer OK: %s path, %s\n", wtconv::to_string(layer.variant().path), layer.variant().isa.c_str());
    return 0;
}
