#include "cpu_isa.h"

#include "HalideRuntime.h"
#include "wtconv/wtconv.h"

#include <algorithm>
#include <cstdlib>
#include <unistd.h>
#include <vector>

namespace wtconv::detail {
namespace {

enum class Isa { sse41 = 0, avx2 = 1, avx512 = 2 };

const char *name(Isa isa) { return isa == Isa::avx512 ? "avx512" : isa == Isa::avx2 ? "avx2" : "sse41"; }

// The most the process may use: WTCONV_CPU_ISA, or everything.
Isa cap() {
    static const Isa value = [] {
        const char *env = std::getenv("WTCONV_CPU_ISA");
        if (env == nullptr || *env == 0) return Isa::avx512;
        for (Isa isa : {Isa::sse41, Isa::avx2, Isa::avx512}) {
            if (std::string(env) == name(isa)) return isa;
        }
        throw Error(std::string("environment variable WTCONV_CPU_ISA is '") + env +
                    "': expected avx512, avx2 or sse41");
    }();
    return value;
}

bool has(const uint64_t *features, int feature) { return (features[feature >> 6] >> (feature & 63)) & 1; }

// The ISA level a target's feature set needs.
Isa needs(const uint64_t *features) {
    for (int f : {halide_target_feature_avx512, halide_target_feature_avx512_skylake, halide_target_feature_avx512_knl,
                  halide_target_feature_avx512_cannonlake, halide_target_feature_avx512_zen4,
                  halide_target_feature_avx512_zen5, halide_target_feature_avx512_sapphirerapids}) {
        if (has(features, f)) return Isa::avx512;
    }
    for (int f : {halide_target_feature_avx, halide_target_feature_avx2, halide_target_feature_fma,
                  halide_target_feature_f16c, halide_target_feature_avxvnni}) {
        if (has(features, f)) return Isa::avx2;
    }
    return Isa::sse41;
}

int capped_can_use(int count, const uint64_t *features) {
    if (static_cast<int>(needs(features)) > static_cast<int>(cap())) return 0;
    return halide_default_can_use_target_features(count, features);
}

bool cpu_has(Isa isa) {
    switch (isa) {
    case Isa::avx512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vl");
    case Isa::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::sse41: return __builtin_cpu_supports("sse4.1");
    }
    return false;
}

}  // namespace

void install_isa_cap() {
    cap();  // throws on a bad value, before any pipeline runs
    halide_set_custom_can_use_target_features(capped_can_use);
}

std::string dispatched_isa() {
    // Mirrors the dispatcher over the compiled target list (most specific
    // first): the first entry within the cap that this CPU can run.
    const std::string targets = WTCONV_CPU_TARGETS;
    size_t start = 0;
    while (start <= targets.size()) {
        size_t end = targets.find(';', start);
        if (end == std::string::npos) end = targets.size();
        const std::string t = targets.substr(start, end - start);
        const Isa level = t.find("avx512") != std::string::npos ? Isa::avx512
                          : t.find("avx") != std::string::npos ? Isa::avx2
                                                               : Isa::sse41;
        if (static_cast<int>(level) <= static_cast<int>(cap()) && cpu_has(level)) return name(level);
        start = end + 1;
    }
    return name(Isa::sse41);
}

long l2_cache_bytes() {
#ifdef _SC_LEVEL2_CACHE_SIZE
    static const long bytes = std::max(0L, sysconf(_SC_LEVEL2_CACHE_SIZE));
    return bytes;
#else
    return 0;
#endif
}

}  // namespace wtconv::detail
