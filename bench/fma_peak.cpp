// The machine's ceilings for the benchmark's floors (docs/PERFORMANCE.md):
// the fp32 FMA peak of every vector width this CPU runs, on 1 thread and on
// all threads, and the memcpy bandwidth of 1 GiB per run.
#include "machine_ceilings.h"

#include <cstdio>
#include <thread>

int main() {
    using namespace wtconv::bench;
    constexpr long kIterations = 200'000'000 / 12;
    const int all = int(std::thread::hardware_concurrency());
    for (int threads : {1, all}) {
        if (cpu_has_avx512()) {
            std::printf("AVX-512, %d thread(s): %.1f GFLOP/s\n", threads, fma_gflops(spin_avx512, 16, threads, kIterations));
        } else {
            std::printf("AVX-512, %d thread(s): not run (this CPU has no AVX-512)\n", threads);
        }
        if (cpu_has_avx2_fma()) {
            std::printf("AVX2,    %d thread(s): %.1f GFLOP/s\n", threads, fma_gflops(spin_avx2, 8, threads, kIterations));
        }
        std::printf("memcpy,  %d thread(s): %.1f GB/s (1 GiB, read + write bytes)\n", threads,
                    memcpy_gbs(threads, (size_t(1) << 30) / threads / 2));
    }
    return 0;
}
