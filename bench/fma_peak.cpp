// The fp32 FMA peak of this machine, for the benchmark's compute floor:
// 12 independent accumulators per thread (enough to hide FMA latency), AVX-512
// and AVX2, 1 thread and all threads. Prints GFLOP/s (an FMA counts as 2).
#include <immintrin.h>

#include <chrono>
#include <cstring>
#include <cstdio>
#include <thread>
#include <vector>

namespace {

constexpr long kIterations = 200'000'000 / 12;

template<typename V, V (*Fma)(V, V, V), V (*Set)(float)>
float spin() {
    V acc[12];
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) acc[i] = Set(float(i));
    const V a = Set(0.999999f), b = Set(1e-7f);
    for (long it = 0; it < kIterations; it++) {
#pragma GCC unroll 12  // keeps the 12 accumulators in registers
        for (int i = 0; i < 12; i++) acc[i] = Fma(acc[i], a, b);
    }
    V sum = acc[0];
    for (int i = 1; i < 12; i++) sum = Fma(sum, a, acc[i]);
    float out[sizeof(V) / sizeof(float)];
    std::memcpy(out, &sum, sizeof(V));
    return out[0];
}

__m512 fma512(__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); }
__m512 set512(float f) { return _mm512_set1_ps(f); }
__m256 fma256(__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); }
__m256 set256(float f) { return _mm256_set1_ps(f); }

template<typename F>
double gflops(F body, int threads, int lanes) {
    std::vector<std::thread> pool;
    volatile float sink = 0;
    auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; t++) pool.emplace_back([&] { sink = sink + body(); });
    for (auto &t : pool) t.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return 2.0 * lanes * 12 * double(kIterations) * threads / s / 1e9;
}

}  // namespace

#include <cstring>

int main() {
    const int all = int(std::thread::hardware_concurrency());
    for (int threads : {1, all}) {
        std::printf("AVX-512, %d thread(s): %.1f GFLOP/s\n", threads,
                    gflops(spin<__m512, fma512, set512>, threads, 16));
        std::printf("AVX2,    %d thread(s): %.1f GFLOP/s\n", threads, gflops(spin<__m256, fma256, set256>, threads, 8));
    }
    return 0;
}
