// wtconv bench: the fused forward (all three layouts), the staged baseline and a
// plain depthwise k x k conv, timed on the same tensor, each checked against
// the double-precision reference of tests/.
#include "commands.h"

#include "pipelines.h"    // runtime/: the plain depthwise conv
#include "reference.h"    // tests/: the double-precision reference
#include "shape_string.h"  // runtime/

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <sstream>

namespace wtconv::cli {
namespace {

using testing::Plane;

struct Shape {
    int64_t N, C, H, W;
    int64_t elements() const { return N * C * H * W; }
    std::string name() const { return std::to_string(N) + "x" + std::to_string(C) + "x" + std::to_string(H) + "x" +
                                      std::to_string(W); }
};

// WTConvNeXt-T's four stages for a 224 x 224 image, batch 1.
const std::vector<Shape> kConvNeXtStages = {{1, 96, 56, 56}, {1, 192, 28, 28}, {1, 384, 14, 14}, {1, 768, 7, 7}};

Shape parse_shape(const std::string &text) {
    std::vector<int64_t> sizes;
    std::stringstream in(text);
    std::string part;
    while (std::getline(in, part, ',')) {
        size_t used = 0;
        int64_t v = 0;
        try {
            v = std::stoll(part, &used);
        } catch (const std::exception &) {
            used = 0;
        }
        if (used != part.size() || part.empty() || v < 1 || v > (int64_t(1) << 20)) {
            throw Error("--shape " + text + ": expected N,C,H,W, four integers in [1, 2^20]");
        }
        sizes.push_back(v);
    }
    if (sizes.size() != 4) throw Error("--shape " + text + ": expected N,C,H,W, four integers in [1, 2^20]");
    const Shape s{sizes[0], sizes[1], sizes[2], sizes[3]};
    if (s.elements() > (int64_t(1) << 31) - 1) throw Error("--shape " + text + ": more than 2^31 elements");
    return s;
}

int default_levels(const Shape &s) {
    return std::max(1, int(std::floor(std::log2(double(std::min(s.H, s.W))))));
}

// FLOPs of one forward (multiply and add counted as 2, as SPEC.md's cost
// section): base conv, then per level 4 bands of band conv, DWT and IDWT.
double wtconv_flops(const Shape &s, int levels, int k, int taps) {
    double per_plane = 2.0 * k * k * s.H * s.W;
    int64_t h = s.H, w = s.W;
    for (int l = 0; l < levels; l++) {
        h = (h + 1) / 2;
        w = (w + 1) / 2;
        per_plane += 4.0 * h * w * (2.0 * k * k + 2 * 2.0 * taps * taps);
    }
    return per_plane * s.N * s.C;
}

// Median wall time of f, in ms, over at least 5 runs and `min_time` seconds.
double median_ms(const std::function<void()> &f, double min_time) {
    using clock = std::chrono::steady_clock;
    f();  // warm-up
    std::vector<double> ms;
    const auto start = clock::now();
    while (ms.size() < 5 || (std::chrono::duration<double>(clock::now() - start).count() < min_time && ms.size() < 100000)) {
        const auto t0 = clock::now();
        f();
        ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
    }
    std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
    return ms[ms.size() / 2];
}

// max |y - ref| / |terms|, the error measure of the tests.
double max_error(const std::vector<float> &y, const std::vector<double> &ref, const std::vector<double> &mag) {
    double worst = 0;
    for (size_t i = 0; i < ref.size(); i++) worst = std::max(worst, std::fabs(y[i] - ref[i]) / std::max(mag[i], 1e-30));
    return worst;
}

// A shape's rows: fused_nchw, fused_nhwc, fused_nchw16c, staged, depthwise.
constexpr size_t kRowsPerShape = 5, kStagedRow = 3, kDepthwiseRow = 4;

struct Row {
    Shape shape;
    int levels;
    std::string impl, variant, isa;  // variant: the pipeline that ran (path/layout)
    double ms, gflops, gbps, error;
};

std::vector<Row> bench_shape(const Shape &s, int levels, const BenchOptions &o, size_t index, size_t count) {
    auto step = [&](const char *what) {
        progress("[bench %zu/%zu] %s L%d: %s\n", index + 1, count, s.name().c_str(), levels, what);
    };
    step("preparing");
    testing::Random rnd(uint64_t(s.C * 1000 + s.H));
    const testing::RandomLayer spec =
        testing::random_layer({int(s.C), o.kernel, levels, 1, o.wavelet, true}, rnd);
    const Layer layer = spec.make_layer();
    const size_t n = size_t(s.elements()), plane = size_t(s.H * s.W);
    const std::vector<float> x = rnd.nonzero_vector(n);
    std::vector<float> y_staged(n), y_dw(n);
    Halide::Runtime::Buffer<float, 3> dw_weight(o.kernel, o.kernel, int(s.C));
    dw_weight.for_each_value([&](float &v) { v = rnd.nonzero(); });

    // The input and an output in each layout the fused forward runs.
    struct InLayout {
        const char *impl;
        Layout layout;
        std::vector<float> x_data, y_data;
        Tensor x, y;
    };
    const std::array<int64_t, 4> shape = {s.N, s.C, s.H, s.W};
    const auto X = ConstTensor::nchw(x.data(), s.N, s.C, s.H, s.W);
    std::vector<InLayout> layouts;
    layouts.reserve(3);
    for (auto [impl, layout] : {std::pair{"fused_nchw", Layout::nchw}, {"fused_nhwc", Layout::channels_last},
                                {"fused_nchw16c", Layout::nchw16c}}) {
        InLayout &l = layouts.emplace_back(InLayout{impl, layout});
        l.x_data.assign(detail::contiguous_elements(shape, layout), 0.0f);
        l.y_data.assign(l.x_data.size(), 0.0f);
        l.x = detail::contiguous(l.x_data.data(), shape, layout);
        l.y = detail::contiguous(l.y_data.data(), shape, layout);
        detail::copy_elements(X, l.x);
    }
    const auto Y_staged = Tensor::nchw(y_staged.data(), s.N, s.C, s.H, s.W);
    const auto dw_in = detail::halide_view(X);
    auto dw_out = detail::halide_view(Tensor::nchw(y_dw.data(), s.N, s.C, s.H, s.W));

    struct Impl {
        std::string name, variant;
        std::function<void()> run;
        double flops;
    };
    auto variant = [&](Path path, const ConstTensor &in, const Tensor &out) {
        const Variant v = layer.variant_for(in, out, path);
        return std::string(to_string(v.path)) + "/" + to_string(v.layout);
    };
    const double flops = wtconv_flops(s, levels, o.kernel, layer.filter_size());
    std::vector<Impl> impls;
    for (const InLayout &l : layouts) {
        impls.push_back({l.impl, variant(Path::automatic, l.x, l.y), [&] { layer.forward(l.x, l.y); }, flops});
    }
    impls.push_back({"staged", variant(Path::staged, X, Y_staged), [&] { layer.forward(X, Y_staged, Path::staged); }, flops});
    impls.push_back({"depthwise", "depthwise", [&] { detail::run_depthwise(dw_weight, dw_in, dw_out); },
                     2.0 * o.kernel * o.kernel * double(n)});
    std::vector<Row> rows;
    const double bytes = 8.0 * double(n);  // one read of x, one write of y
    for (const Impl &impl : impls) {
        step(impl.name.c_str());
        const double ms = median_ms(impl.run, o.min_time);
        rows.push_back({s, levels, impl.name, impl.variant, layer.variant().isa, ms, impl.flops / (ms * 1e6),
                        bytes / (ms * 1e6), NAN});
    }

    step("checking against the double-precision reference");
    const std::vector<double> ref = testing::reference_forward(spec, x, int(s.N), int(s.H), int(s.W));
    const std::vector<double> mag = testing::reference_forward(spec, x, int(s.N), int(s.H), int(s.W), true);
    for (size_t i = 0; i < layouts.size(); i++) {
        std::vector<float> logical(n);
        detail::copy_elements(ConstTensor(layouts[i].y), Tensor::nchw(logical.data(), s.N, s.C, s.H, s.W));
        rows[i].error = max_error(logical, ref, mag);
    }
    rows[kStagedRow].error = max_error(y_staged, ref, mag);
    std::vector<double> dw_ref(n), dw_mag(n);
    for (int64_t p = 0; p < s.N * s.C; p++) {
        Plane in(int(s.H), int(s.W));
        std::copy(x.begin() + p * plane, x.begin() + (p + 1) * plane, in.v.begin());
        const float *w = dw_weight.data() + (p % s.C) * o.kernel * o.kernel;
        const Plane r = testing::conv_same(in, w, o.kernel, 1.0, false);
        for (double &v : in.v) v = std::fabs(v);
        const Plane m = testing::conv_same(in, w, o.kernel, 1.0, true);
        std::copy(r.v.begin(), r.v.end(), dw_ref.begin() + p * plane);
        std::copy(m.v.begin(), m.v.end(), dw_mag.begin() + p * plane);
    }
    rows[kDepthwiseRow].error = max_error(y_dw, dw_ref, dw_mag);
    return rows;
}

}  // namespace

void bench(const BenchOptions &o) {
    check_device(o.device);
    if (o.kernel < 1 || o.kernel > 64) throw Error("--kernel " + std::to_string(o.kernel) + ": must be in [1, 64]");
    if (o.levels && (*o.levels < 0 || *o.levels > 16)) {
        throw Error("--levels " + std::to_string(*o.levels) + ": must be in [0, 16]");
    }
    if (o.wavelet.rfind("custom:", 0) == 0) throw Error("--wavelet " + o.wavelet + ": unknown wavelet");
    detail::wavelet_filters(o.wavelet);  // throws on an unknown name
    const std::vector<Shape> shapes = o.shape ? std::vector<Shape>{parse_shape(*o.shape)} : kConvNeXtStages;

    // The test helpers announce their random seed on stdout: keep stdout for the table or JSON.
    std::ostringstream seed_line;
    std::streambuf *stdout_buffer = std::cout.rdbuf(seed_line.rdbuf());
    testing::test_seed();
    std::cout.rdbuf(stdout_buffer);
    progress("%s", seed_line.str().c_str());

    std::vector<Row> rows;
    for (size_t i = 0; i < shapes.size(); i++) {
        const int levels = o.levels ? *o.levels : default_levels(shapes[i]);
        for (Row &r : bench_shape(shapes[i], levels, o, i, shapes.size())) rows.push_back(std::move(r));
    }
    const std::string isa = rows.empty() ? "" : rows[0].isa;

    if (o.json) {
        for (const Row &r : rows) {
            nlohmann::json j = {{"shape", {r.shape.N, r.shape.C, r.shape.H, r.shape.W}},
                                {"levels", r.levels},
                                {"kernel", o.kernel},
                                {"wavelet", o.wavelet},
                                {"device", o.device},
                                {"impl", r.impl},
                                {"variant", r.variant},
                                {"isa", r.isa},
                                {"ms_median", r.ms},
                                {"gflops", r.gflops},
                                {"gbps", r.gbps},
                                {"max_error", r.error}};
            std::printf("%s\n", j.dump().c_str());
        }
        return;
    }
    std::printf("WTConv2d forward on the CPU (%s), k = %d, %s; median of >= %.2g s of runs each.\n"
                "GB/s: one read of x and one write of y; vs staged / vs depthwise: their time / this time;\n"
                "error: max |y - reference| / |terms| against the double-precision reference.\n\n",
                isa.c_str(), o.kernel, o.wavelet.c_str(), o.min_time);
    std::printf("%-16s %3s %-13s %10s %9s %8s %10s %13s %10s\n", "shape (NxCxHxW)", "L", "impl", "median ms",
                "GFLOP/s", "GB/s", "vs staged", "vs depthwise", "error");
    for (size_t i = 0; i < rows.size(); i++) {
        const Row &r = rows[i];
        const size_t first = i - i % kRowsPerShape;
        std::printf("%-16s %3d %-13s %10.4f %9.2f %8.2f %9.2fx %12.2fx %10.2e\n", r.shape.name().c_str(), r.levels,
                    r.impl.c_str(), r.ms, r.gflops, r.gbps, rows[first + kStagedRow].ms / r.ms,
                    rows[first + kDepthwiseRow].ms / r.ms, r.error);
    }
}

}  // namespace wtconv::cli
