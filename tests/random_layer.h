// Random WTConv2d layers and inputs for the tests: fresh values every run
// (the seed is printed so a failure can be replayed with WTCONV_TEST_SEED),
// never zero, signs and scales random, so a flipped band or a wrong scale
// shows.
#pragma once

#include "wavelets.h"  // runtime/: the committed PyWavelets table
#include "wtconv/wtconv.h"

#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace wtconv::testing {

inline uint64_t test_seed() {
    static const uint64_t seed = [] {
        const char *env = std::getenv("WTCONV_TEST_SEED");
        const uint64_t s = env ? std::strtoull(env, nullptr, 10) : std::random_device{}();
        std::cout << "[wtconv] random seed " << s << " (replay with WTCONV_TEST_SEED=" << s << ")\n";
        return s;
    }();
    return seed;
}

class Random {
public:
    explicit Random(uint64_t salt = 0) : rng_(test_seed() * 6364136223846793005ULL + salt) {}
    // Uniform in +-[0.25, 1.25], random sign: never zero.
    float nonzero() {
        std::uniform_real_distribution<float> mag(0.25f, 1.25f);
        return (rng_() & 1) ? mag(rng_) : -mag(rng_);
    }
    int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
    template<typename T>
    const T &pick(const std::vector<T> &v) { return v[size_t(uniform(0, int(v.size()) - 1))]; }
    std::vector<float> nonzero_vector(size_t n) {
        std::vector<float> v(n);
        for (float &f : v) f = nonzero();
        return v;
    }

private:
    std::mt19937_64 rng_;
};

struct LayerSpec {
    int channels = 3, kernel_size = 5, levels = 1, stride = 1;
    std::string wavelet = "db1";  // "custom:F" for random (non-separable) filters of size F
    bool bias = true;
};

// A random point of the configuration space the randomized suites cover:
// 1..40 channels, k 1..8, 1..8 levels, stride 1..4, a mix of wavelets
// (Haar, orthogonal, biorthogonal, custom non-separable filters), bias or not.
inline LayerSpec random_spec(Random &rnd) {
    static const std::vector<std::string> wavelets = {"db1", "haar", "db2", "db3", "sym4", "coif1", "bior2.2",
                                                      "rbio1.3", "bior3.1", "db6", "sym2", "rbio3.3", "custom:4"};
    LayerSpec spec;
    spec.channels = rnd.uniform(1, 40);
    spec.kernel_size = rnd.uniform(1, 8);
    spec.levels = rnd.uniform(1, 8);
    spec.stride = rnd.uniform(1, 4);
    spec.wavelet = rnd.pick(wavelets);
    spec.bias = rnd.uniform(0, 1);
    return spec;
}

inline std::string describe(const LayerSpec &s) {
    return "C=" + std::to_string(s.channels) + " k=" + std::to_string(s.kernel_size) + " L=" +
           std::to_string(s.levels) + " stride=" + std::to_string(s.stride) + " wavelet=" + s.wavelet +
           (s.bias ? " bias" : " no-bias");
}

// The tensors of one layer, named as the PyTorch module's state_dict.
struct RandomLayer {
    int channels = 0, kernel_size = 0, levels = 0, stride = 1;
    int analysis_taps = 0, synthesis_taps = 0;
    bool bias = true;
    std::map<std::string, std::vector<float>> data;
    std::map<std::string, std::vector<int64_t>> shapes;

    void set(const std::string &name, std::vector<int64_t> shape, std::vector<float> values) {
        shapes[name] = std::move(shape);
        data[name] = std::move(values);
    }
    const float *tensor(const std::string &name) const { return data.at(name).data(); }
    float *mutable_tensor(const std::string &name) { return data.at(name).data(); }

    StateDict state_dict(const std::string &prefix = "", bool with_filters = true) const {
        StateDict sd;
        for (const auto &[name, values] : data) {
            if (!with_filters && (name == "wt_filter" || name == "iwt_filter")) continue;
            sd[prefix + name] = TensorView{values.data(), shapes.at(name)};
        }
        return sd;
    }
    Layer make_layer(const std::string &prefix = "") const {
        return Layer::from_state_dict(state_dict(prefix), prefix, stride);
    }
};

inline RandomLayer random_layer(const LayerSpec &spec, Random &rnd) {
    RandomLayer l;
    l.channels = spec.channels;
    l.kernel_size = spec.kernel_size;
    l.levels = spec.levels;
    l.stride = spec.stride;
    l.bias = spec.bias;
    const int64_t C = spec.channels, k = spec.kernel_size;
    l.set("base_conv.weight", {C, 1, k, k}, rnd.nonzero_vector(size_t(C * k * k)));
    if (spec.bias) l.set("base_conv.bias", {C}, rnd.nonzero_vector(size_t(C)));
    l.set("base_scale.weight", {1, C, 1, 1}, rnd.nonzero_vector(size_t(C)));
    for (int i = 0; i < spec.levels; i++) {
        l.set("wavelet_convs." + std::to_string(i) + ".weight", {4 * C, 1, k, k},
              rnd.nonzero_vector(size_t(4 * C * k * k)));
        l.set("wavelet_scale." + std::to_string(i) + ".weight", {1, 4 * C, 1, 1},
              rnd.nonzero_vector(size_t(4 * C)));
    }
    std::vector<float> analysis, synthesis;
    int F;
    if (spec.wavelet.rfind("custom:", 0) == 0) {
        F = std::stoi(spec.wavelet.substr(7));
        analysis = rnd.nonzero_vector(size_t(4 * F * F));
        synthesis = rnd.nonzero_vector(size_t(4 * F * F));
    } else {
        detail::WaveletFilters f = detail::wavelet_filters(spec.wavelet);
        F = f.taps;
        analysis = f.analysis;
        synthesis = f.synthesis;
    }
    l.analysis_taps = l.synthesis_taps = F;
    std::vector<float> wt, iwt;
    for (int64_t c = 0; c < C; c++) {
        wt.insert(wt.end(), analysis.begin(), analysis.end());
        iwt.insert(iwt.end(), synthesis.begin(), synthesis.end());
    }
    l.set("wt_filter", {4 * C, 1, F, F}, std::move(wt));
    l.set("iwt_filter", {4 * C, 1, F, F}, std::move(iwt));
    return l;
}

}  // namespace wtconv::testing
