// This machine's ceilings, measured in a fraction of a second, for the
// benchmark's floors: the fp32 FMA peak (12 independent accumulators per
// thread, enough to hide the FMA latency; an FMA counts as 2 FLOPs) and the
// memcpy bandwidth (read + write bytes counted). Each vector width is
// compiled for its own ISA (function target attributes), so the file
// builds without -mavx512f and the AVX-512 spin only runs where the CPU has
// it (the benchmark machine moved from AVX-512 Xeons to AVX2 EPYCs).
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace wtconv::bench {

inline bool cpu_has_avx512() { return __builtin_cpu_supports("avx512f"); }
inline bool cpu_has_avx2_fma() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

// FMAs per thread of one spin: each of 12 accumulators, `iterations` times.
__attribute__((target("avx512f"))) inline float spin_avx512(long iterations) {
    __m512 acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_ps(float(i));
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (long it = 0; it < iterations; it++) {
#pragma GCC unroll 12  // keeps the 12 accumulators in registers
        for (int i = 0; i < 12; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    }
    __m512 sum = acc[0];
    for (int i = 1; i < 12; i++) sum = _mm512_add_ps(sum, acc[i]);
    return _mm512_reduce_add_ps(sum);
}

__attribute__((target("avx2,fma"))) inline float spin_avx2(long iterations) {
    __m256 acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm256_set1_ps(float(i));
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (long it = 0; it < iterations; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    }
    float out[8];
    __m256 sum = acc[0];
    for (int i = 1; i < 12; i++) sum = _mm256_add_ps(sum, acc[i]);
    _mm256_storeu_ps(out, sum);
    return out[0];
}

// Runs `body` on `threads` threads at once; returns the seconds it took.
template<typename Body>
double timed_on_threads(int threads, Body body) {
    std::vector<std::thread> pool;
    const auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; t++) pool.emplace_back([&body, t] { body(t); });
    for (auto &t : pool) t.join();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Rounds of each ceiling's measurement, best taken. A round of the spin
// takes a few ms; on a shared 2-vCPU machine a neighbour's burst can halve
// all three rounds of a best-of-3 (a run on 2026-12-07 reported 104.7
// GFLOP/s on 2 threads, where fma_peak gives 195-199, and >100 % "of
// peak"), so the spin takes the best of ten.
constexpr int kFmaRounds = 10;

// GFLOP/s of the `lanes`-wide spin on `threads` threads, best of kFmaRounds.
template<typename Spin>
double fma_gflops(Spin spin, int lanes, int threads, long iterations) {
    double best = 0;
    for (int round = 0; round < kFmaRounds; round++) {
        volatile float sink = 0;
        const double s = timed_on_threads(threads, [&](int) { sink = sink + spin(iterations); });
        best = std::max(best, 2.0 * lanes * 12 * double(iterations) * threads / s / 1e9);
    }
    return best;
}

// The peak of the widest vectors this CPU runs (what the library's
// dispatcher picks), and that ISA's name.
inline double widest_fma_peak_gflops(int threads, std::string *isa = nullptr, long iterations = 2'000'000) {
    if (cpu_has_avx512()) {
        if (isa) *isa = "AVX-512";
        return fma_gflops(spin_avx512, 16, threads, iterations);
    }
    if (cpu_has_avx2_fma()) {
        if (isa) *isa = "AVX2";
        return fma_gflops(spin_avx2, 8, threads, iterations);
    }
    if (isa) *isa = "none (no AVX2 or FMA)";
    return 0;
}

// memcpy GB/s (bytes read + bytes written) of `threads` threads, each
// copying its own `bytes_per_thread` buffer, best of 3 after a first touch.
inline double memcpy_gbs(int threads, size_t bytes_per_thread) {
    std::vector<std::vector<char>> from(threads, std::vector<char>(bytes_per_thread, 1)),
        to(threads, std::vector<char>(bytes_per_thread, 0));
    double best = 0;
    for (int round = 0; round < 3; round++) {
        const double s = timed_on_threads(threads, [&](int t) { std::memcpy(to[t].data(), from[t].data(), bytes_per_thread); });
        best = std::max(best, 2.0 * double(bytes_per_thread) * threads / s / 1e9);
    }
    return best;
}

}  // namespace wtconv::bench
