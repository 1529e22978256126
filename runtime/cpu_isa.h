// Which x86 variant of the multi-target pipelines runs. Halide's dispatcher
// takes the first target in WTCONV_CPU_TARGETS whose features the CPU has;
// the environment variable WTCONV_CPU_ISA (avx512, avx2 or sse41) caps that
// choice, so that a benchmark can measure each variant on one machine. The
// cap is read once per process (Halide locks each function's choice at its
// first call).
#pragma once

#include <string>

namespace wtconv::detail {

// Installs the capped feature check into the Halide runtime; called once
// before the first pipeline runs. Throws wtconv::Error on a bad
// WTCONV_CPU_ISA value.
void install_isa_cap();

// The variant the dispatcher picks here: "avx512", "avx2" or "sse41".
std::string dispatched_isa();

// The L2 cache of one core, in bytes, as the C library reports it (cpuid
// on x86 Linux); 0 where it does not know. The huge-plane variants' plane
// threshold depends on it (runtime/pipelines.cpp, kSmallL2Bytes).
long l2_cache_bytes();

}  // namespace wtconv::detail
