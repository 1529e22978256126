// The wavelet coefficient table (generated from PyWavelets, committed as
// data) and the 2-D filters the reference module builds from it.
#pragma once

#include <string>
#include <vector>

namespace wtconv::detail {

// 2-D filters of one wavelet, as the reference module's wt_filter /
// iwt_filter for one channel: filters[(b * F + i) * F + j], bands LL, LH, HL,
// HH, formed in float32 exactly as the module does (SPEC.md, "Filters").
struct WaveletFilters {
    int taps = 0;  // F
    std::vector<float> analysis, synthesis;
};

// Throws wtconv::Error naming the wavelet when it is unknown.
WaveletFilters wavelet_filters(const std::string &name);

std::vector<std::string> wavelet_names();

}  // namespace wtconv::detail
