// wtconv erf: the layer is linear, so its response to an impulse at the
// centre of a plane is its exact effective receptive field. Drawn (log scale,
// viridis, colour bar) next to a plain depthwise conv of about the same FLOPs.
#include "commands.h"
#include "image.h"

#include "pipelines.h"    // runtime/: the plain depthwise conv
#include "safetensors.h"  // runtime/: write_file_atomically
#include "wtconv/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

namespace wtconv::cli {
namespace {

constexpr int kMargin = 20, kGap = 40, kLine = 14, kBarHeight = 16;
const Rgb kWhite = {255, 255, 255}, kBlack = {0, 0, 0};

// The odd kernel size whose plain depthwise conv costs about as much as the
// layer: SPEC.md's cost, 2k^2 (1 + sum over levels of 4^(1-l)) per pixel.
int equivalent_kernel(int k, int levels) {
    double ratio = 1;
    for (int l = 1; l <= levels; l++) ratio += std::pow(4.0, 1 - l);
    const double exact = k * std::sqrt(ratio);
    const int below = std::max(1, 2 * int(std::floor((exact - 1) / 2)) + 1);
    return exact - below <= below + 2 - exact ? below : below + 2;
}

// The layer with every weight uniform on the low-pass path: base conv and
// each level's LL band conv 1/k^2, the other bands 0, every scale 1, no bias.
Layer uniform_layer(int k, int levels, const std::string &wavelet) {
    TensorMap t;
    const float tap = 1.0f / float(k * k);
    t["base_conv.weight"] = {{1, 1, k, k}, std::vector<float>(size_t(k * k), tap)};
    t["base_scale.weight"] = {{1, 1, 1, 1}, {1.0f}};
    for (int l = 0; l < levels; l++) {
        std::vector<float> bands(size_t(4 * k * k), 0.0f);
        std::fill(bands.begin(), bands.begin() + k * k, tap);
        t["wavelet_convs." + std::to_string(l) + ".weight"] = {{4, 1, k, k}, bands};
        t["wavelet_scale." + std::to_string(l) + ".weight"] = {{1, 4, 1, 1}, {1.0f, 1.0f, 1.0f, 1.0f}};
    }
    return Layer::from_state_dict(state_dict(t), "", 1, wavelet);
}

// Mean over channels of |response| to an impulse at the centre of every
// channel, less the response to zeros (the bias: the layer is affine).
std::vector<double> impulse_response(const Layer &layer, int size) {
    const int64_t C = layer.channels(), plane = int64_t(size) * size;
    std::vector<float> x(size_t(C * plane), 0.0f), y(x.size()), y0(x.size());
    layer.forward(ConstTensor::nchw(x.data(), 1, C, size, size), Tensor::nchw(y0.data(), 1, C, size, size));
    for (int64_t c = 0; c < C; c++) x[size_t(c * plane + (size / 2) * size + size / 2)] = 1.0f;
    layer.forward(ConstTensor::nchw(x.data(), 1, C, size, size), Tensor::nchw(y.data(), 1, C, size, size));
    std::vector<double> r(size_t(plane), 0.0);
    for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < plane; i++) {
            const size_t at = size_t(c * plane + i);
            r[size_t(i)] += std::fabs(double(y[at]) - double(y0[at])) / double(C);
        }
    return r;
}

std::vector<double> depthwise_response(int k, int size) {
    std::vector<float> x(size_t(size) * size, 0.0f), y(x.size());
    x[size_t((size / 2) * size + size / 2)] = 1.0f;
    Halide::Runtime::Buffer<float, 3> weight(k, k, 1);
    weight.fill(1.0f / float(k * k));
    auto out = detail::halide_view(Tensor::nchw(y.data(), 1, 1, size, size));
    detail::run_depthwise(weight, detail::halide_view(ConstTensor::nchw(x.data(), 1, 1, size, size)), out);
    return {y.begin(), y.end()};
}

// Text that fits `width`: at scale 2, else 1, else cut.
void caption(Image &image, int x, int y, std::string text, int width) {
    const int scale = Image::text_width(text, 2) <= width ? 2 : 1;
    while (text.size() > 3 && Image::text_width(text, scale) > width) text = text.substr(0, text.size() - 4) + "..";
    image.text(x, y, text, kBlack, scale);
}

void draw_panel(Image &image, const ErfLayout &at, int panel, const std::vector<double> &r, int size, int decades,
                const std::string &line1, const std::string &line2) {
    const double top = *std::max_element(r.begin(), r.end());
    for (int i = 0; i < size; i++)
        for (int j = 0; j < size; j++) {
            const double v = std::fabs(r[size_t(i) * size + j]);
            const double t = v > 0 && top > 0 ? 1 + std::log10(v / top) / decades : 0;
            image.fill(at.panel_x[panel] + j * at.zoom, at.panel_y + i * at.zoom, at.zoom, at.zoom, viridis(t));
        }
    caption(image, at.panel_x[panel], at.panel_y - 2 * (kLine + 6), line1, at.panel_size);
    caption(image, at.panel_x[panel], at.panel_y - (kLine + 6), line2, at.panel_size);
}

}  // namespace

ErfLayout erf_layout(int size) {
    ErfLayout at;
    at.zoom = std::max(1, 360 / size);
    at.panel_size = size * at.zoom;
    at.panel_x[0] = kMargin;
    at.panel_x[1] = kMargin + at.panel_size + kGap;
    at.panel_y = kMargin + kLine + 16 + 2 * (kLine + 6);  // title, then two caption lines
    at.width = 2 * at.panel_size + kGap + 2 * kMargin;
    at.height = at.panel_y + at.panel_size + 20 + kBarHeight + 6 + kLine + kMargin;
    return at;
}

void erf(const ErfOptions &o) {
    if (o.out.empty()) throw Error("--out: give the PNG file to write");
    if (o.decades < 1 || o.decades > 12) throw Error("--decades " + std::to_string(o.decades) + ": must be in [1, 12]");
    std::optional<Layer> layer;
    std::string name;
    int k = o.kernel, levels = o.levels;
    if (o.weights) {
        layer = Layer::from_safetensors(*o.weights, o.prefix.value_or(""), 1, o.wavelet);
        k = layer->kernel_size();
        levels = layer->levels();
        name = std::filesystem::path(*o.weights).filename().string() + (o.prefix ? " " + *o.prefix : "");
    } else {
        if (k < 1 || k > 64) throw Error("--kernel " + std::to_string(k) + ": must be in [1, 64]");
        if (levels < 0 || levels > 10) throw Error("--levels " + std::to_string(levels) + ": must be in [0, 10]");
        layer = uniform_layer(k, levels, o.wavelet);
        name = "WTConv2d k=" + std::to_string(k) + " L=" + std::to_string(levels) + " " + o.wavelet;
    }
    const int size = o.size ? *o.size : std::min((2 << std::min(levels, 10)) * k + 1, 2049);
    if (size < 3 || size > 4097 || size % 2 == 0) {
        throw Error("--size " + std::to_string(size) + ": must be odd (the impulse sits at the centre), in [3, 4097]");
    }
    const int dw_k = std::min(equivalent_kernel(k, levels), size);

    progress("[erf] impulse response of %s on a %dx%d plane\n", name.c_str(), size, size);
    const std::vector<double> wt = impulse_response(*layer, size);
    progress("[erf] impulse response of a plain %dx%d depthwise conv\n", dw_k, dw_k);
    const std::vector<double> dw = depthwise_response(dw_k, size);

    progress("[erf] drawing\n");
    const ErfLayout at = erf_layout(size);
    Image image(at.width, at.height, kWhite);
    image.text(kMargin, kMargin, "|impulse response| / max, log10, on " + std::to_string(size) + "x" +
                                     std::to_string(size) + " pixels", kBlack);
    draw_panel(image, at, 0, wt, size, o.decades, name,
               o.weights ? "k=" + std::to_string(k) + " L=" + std::to_string(levels) + ", mean over channels"
                         : "uniform low-pass kernels");
    draw_panel(image, at, 1, dw, size, o.decades, "depthwise " + std::to_string(dw_k) + "x" + std::to_string(dw_k),
               "about the same FLOPs");
    // Colour bar under both panels: 10^-decades .. 1.
    const int bar_y = at.panel_y + at.panel_size + 20, bar_w = at.width - 2 * kMargin;
    for (int i = 0; i < bar_w; i++) image.fill(kMargin + i, bar_y, 1, kBarHeight, viridis(double(i) / (bar_w - 1)));
    for (int d = 0; d <= o.decades; d++) {
        const std::string label = d == o.decades ? "1" : "1e-" + std::to_string(o.decades - d);
        const int x = kMargin + (bar_w - 1) * d / o.decades;
        image.fill(x, bar_y + kBarHeight, 1, 4, kBlack);
        const int w = Image::text_width(label);
        image.text(std::clamp(x - w / 2, 0, at.width - w), bar_y + kBarHeight + 6, label, kBlack);
    }
    const std::string png = image.png();
    detail::write_file_atomically(o.out, [&](std::FILE *f) { std::fwrite(png.data(), 1, png.size(), f); });
    std::printf("%s: %dx%d PNG, %s next to a %dx%d depthwise conv\n", o.out.c_str(), at.width, at.height,
                name.c_str(), dw_k, dw_k);
}

}  // namespace wtconv::cli
