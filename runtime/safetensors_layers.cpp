// WTConv layers in safetensors files: finding them by their keys, loading one.
#include "safetensors.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace wtconv {
namespace {

const std::string kBaseWeight = "base_conv.weight";

bool is_number(const std::string &s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

// Whether `name` is prefix + one of the keys the WTConv2d module has.
bool is_layer_key(const std::string &name, const std::string &prefix) {
    if (name.compare(0, prefix.size(), prefix) != 0) return false;
    const std::string key = name.substr(prefix.size());
    static const std::set<std::string> fixed = {kBaseWeight, "base_conv.bias", "base_scale.weight", "wt_filter",
                                                "iwt_filter"};
    if (fixed.count(key)) return true;
    for (const std::string group : {"wavelet_convs.", "wavelet_scale."}) {
        const std::string suffix = ".weight";
        if (key.size() > group.size() + suffix.size() && key.compare(0, group.size(), group) == 0 &&
            key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0 &&
            is_number(key.substr(group.size(), key.size() - group.size() - suffix.size()))) {
            return true;
        }
    }
    return false;
}

// "blocks.2." before "blocks.10.": runs of digits compare as numbers.
bool natural_less(const std::string &a, const std::string &b) {
    size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
            size_t i_end = i, j_end = j;
            while (i_end < a.size() && std::isdigit(static_cast<unsigned char>(a[i_end]))) i_end++;
            while (j_end < b.size() && std::isdigit(static_cast<unsigned char>(b[j_end]))) j_end++;
            // Compare without leading zeros: by length, then digit by digit.
            const std::string x = a.substr(i, i_end - i), y = b.substr(j, j_end - j);
            const size_t x0 = std::min(x.find_first_not_of('0'), x.size()), y0 = std::min(y.find_first_not_of('0'), y.size());
            if (x.size() - x0 != y.size() - y0) return x.size() - x0 < y.size() - y0;
            const int c = x.compare(x0, std::string::npos, y, y0, std::string::npos);
            if (c != 0) return c < 0;
            i = i_end;
            j = j_end;
        } else {
            if (a[i] != b[j]) return a[i] < b[j];
            i++;
            j++;
        }
    }
    return a.size() - i < b.size() - j || (a.size() - i == b.size() - j && a < b);
}

}  // namespace

std::vector<std::string> list_layers(const std::string &path) {
    std::set<std::string> names;
    for (const TensorInfo &t : safetensors_index(path)) names.insert(t.name);
    std::vector<std::string> prefixes;
    for (const std::string &name : names) {
        if (name.size() < kBaseWeight.size() ||
            name.compare(name.size() - kBaseWeight.size(), kBaseWeight.size(), kBaseWeight) != 0) {
            continue;
        }
        const std::string prefix = name.substr(0, name.size() - kBaseWeight.size());
        auto has = [&](const std::string &key) { return names.count(prefix + key) != 0; };
        if (!has("base_scale.weight") || has("wt_filter") != has("iwt_filter")) continue;
        int levels = 0;
        while (has("wavelet_convs." + std::to_string(levels) + ".weight")) levels++;
        bool complete = !has("wavelet_scale." + std::to_string(levels) + ".weight");
        for (int i = 0; i < levels; i++) complete = complete && has("wavelet_scale." + std::to_string(i) + ".weight");
        if (complete) prefixes.push_back(prefix);
    }
    std::sort(prefixes.begin(), prefixes.end(), natural_less);
    return prefixes;
}

Layer Layer::from_safetensors(const std::string &path, const std::string &prefix, int stride,
                              const std::optional<std::string> &wavelet) {
    const TensorMap tensors =
        detail::read_tensors(path, [&](const std::string &name) { return is_layer_key(name, prefix); });
    if (!tensors.count(prefix + kBaseWeight)) {
        std::string found;
        for (const std::string &p : list_layers(path)) found += (found.empty() ? "'" : ", '") + p + "'";
        throw Error(path + ": no tensor '" + prefix + kBaseWeight + "'" +
                    (found.empty() ? std::string(": the file holds no complete WTConv layer")
                                   : ": the file's WTConv layers have the prefixes " + found));
    }
    try {
        return from_state_dict(state_dict(tensors), prefix, stride, wavelet);
    } catch (const Error &e) {
        throw Error(path + ": " + e.what());
    }
}

}  // namespace wtconv
