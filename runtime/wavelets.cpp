#include "wavelets.h"

#include "wtconv/wtconv.h"

#include <algorithm>
#include <array>

namespace wtconv::detail {
namespace {

struct WaveletEntry {
    const char *name;
    int taps;
    std::vector<double> dec_lo, dec_hi, rec_lo, rec_hi;
};

#define WTCONV_TAPS(...) std::vector<double> __VA_ARGS__
#define WTCONV_WAVELET(name, taps, dec_lo, dec_hi, rec_lo, rec_hi) \
    WaveletEntry{name, taps, dec_lo, dec_hi, rec_lo, rec_hi},

const std::vector<WaveletEntry> &table() {
    static const std::vector<WaveletEntry> entries = {
#include "wavelet_table.inc"
    };
    return entries;
}

#undef WTCONV_WAVELET
#undef WTCONV_TAPS

std::vector<float> to_float(const std::vector<double> &taps, bool reverse) {
    std::vector<float> out(taps.begin(), taps.end());
    if (reverse) std::reverse(out.begin(), out.end());
    return out;
}

// filters[b][i][j] = col_b[j] * row_b[i] in float32, bands LL, LH, HL, HH.
std::vector<float> outer_products(const std::vector<float> &lo, const std::vector<float> &hi) {
    const int taps = static_cast<int>(lo.size());
    const std::array<const std::vector<float> *, 4> rows = {&lo, &hi, &lo, &hi};
    const std::array<const std::vector<float> *, 4> cols = {&lo, &lo, &hi, &hi};
    std::vector<float> out(4 * taps * taps);
    for (int b = 0; b < 4; b++) {
        for (int i = 0; i < taps; i++) {
            for (int j = 0; j < taps; j++) {
                out[(b * taps + i) * taps + j] = (*cols[b])[j] * (*rows[b])[i];
            }
        }
    }
    return out;
}

}  // namespace

WaveletFilters wavelet_filters(const std::string &name) {
    for (const WaveletEntry &w : table()) {
        if (name == w.name) {
            WaveletFilters f;
            f.taps = w.taps;
            // Analysis: reversed decomposition filters; synthesis: the
            // reconstruction filters as they are (the module reverses twice).
            f.analysis = outer_products(to_float(w.dec_lo, true), to_float(w.dec_hi, true));
            f.synthesis = outer_products(to_float(w.rec_lo, false), to_float(w.rec_hi, false));
            return f;
        }
    }
    throw Error("unknown wavelet '" + name + "': expected one of PyWavelets' discrete wavelets "
                "(db1, haar, sym4, coif3, bior2.2, ...; Layer::wavelets() lists all " +
                std::to_string(table().size()) + ")");
}

std::vector<std::string> wavelet_names() {
    std::vector<std::string> names;
    for (const WaveletEntry &w : table()) names.emplace_back(w.name);
    return names;
}

}  // namespace wtconv::detail
