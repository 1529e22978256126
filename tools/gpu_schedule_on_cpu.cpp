// tools/gpu_schedule_on_cpu.sh: the CUDA GPU schedule (schedules/gpu_schedules.h),
// compiled for OpenCL instead of CUDA, run on a CPU OpenCL device (pocl)
// against the double-precision reference of the tests. Checks the schedule
// (both plans, shared-memory tiles with bound_storage, guarded thread loops,
// barriers) on machines without a GPU; not the CUDA code generator, the
// driver hooks or GPU timing. Exit status 0: every run within tolerance.
#include "reference.h"
#include "weights.h"
#include "HalideBuffer.h"
#include "HalideRuntime.h"
#include "ocl_haar_true_l3.h"
#include "ocl_haar_false_l2.h"
#include "ocl_general_true_l4.h"
#include "ocl_general_false_l3.h"
#include "ocl_haar_true_l5.h"
#include "ocl_general_true_l8.h"
#include <cstdio>
using namespace wtconv; using namespace wtconv::testing;
using Fn = int (*)(void const *, halide_buffer_t *, halide_buffer_t *, halide_buffer_t *, halide_buffer_t *, halide_buffer_t *, halide_buffer_t *, int32_t, halide_buffer_t *);
static std::string err;
int main() {
    halide_set_error_handler([](void *, const char *m) { err = m; });
    struct V { const char *name; Fn fn; bool haar, plane; int levels; };
    V vs[] = {{"haar plane l3", ocl_haar_true_l3, true, true, 3}, {"haar tiled l2", ocl_haar_false_l2, true, false, 2},
              {"general plane l4", ocl_general_true_l4, false, true, 4}, {"general tiled l3", ocl_general_false_l3, false, false, 3},
              {"haar plane l5", ocl_haar_true_l5, true, true, 5}, {"general plane l8", ocl_general_true_l8, false, true, 8}};
    Random rnd(7);
    int failures = 0, runs = 0;
    for (const V &v : vs) {
        for (int trial = 0; trial < 6; trial++) {
            LayerSpec spec;
            spec.channels = rnd.uniform(1, 5); spec.kernel_size = rnd.uniform(1, 8); spec.levels = v.levels;
            spec.stride = rnd.uniform(1, 3); spec.bias = rnd.uniform(0, 1);
            spec.wavelet = v.haar ? "db1" : rnd.pick(std::vector<std::string>{"db2", "sym4", "bior2.2", "custom:4", "coif1"});
            RandomLayer rl = random_layer(spec, rnd);
            int N = rnd.uniform(1, 2);
            int H = v.plane ? (trial == 0 ? 56 : rnd.uniform(1, 56)) : rnd.uniform(57, 90);
            int W = v.plane ? (trial == 0 ? 56 : rnd.uniform(1, 56)) : rnd.uniform(1, 90);
            if (trial == 1) { H = 1; W = v.plane ? 1 : 57; }
            const int C = spec.channels, s = spec.stride, Ho = (H - 1) / s + 1, Wo = (W - 1) / s + 1;
            detail::PreparedWeights w = detail::prepare_weights(rl.state_dict(), "", std::nullopt);
            std::vector<float> x = rnd.nonzero_vector(size_t(N) * C * H * W);
            Halide::Runtime::Buffer<float, 4> hx(x.data(), W, H, C, N), hy(Wo, Ho, C, N);
            hx.set_host_dirty(); w.base_weight.set_host_dirty(); w.base_bias.set_host_dirty(); w.band_weight.set_host_dirty();
            w.analysis.set_host_dirty(); w.synthesis.set_host_dirty();
            int r = v.fn(nullptr, hx.raw_buffer(), w.base_weight.raw_buffer(), w.base_bias.raw_buffer(), w.band_weight.raw_buffer(),
                         w.analysis.raw_buffer(), w.synthesis.raw_buffer(), s, hy.raw_buffer());
            runs++;
            if (r != 0) { printf("%s %s N=%d H=%d W=%d: error %d %s\n", v.name, describe(spec).c_str(), N, H, W, r, err.c_str()); failures++; continue; }
            hy.copy_to_host();
            std::vector<float> y(hy.data(), hy.data() + hy.number_of_elements());
            auto ref = reference_forward(rl, x, N, H, W), mag = reference_forward(rl, x, N, H, W, true);
            double worst = 0; size_t wi = 0;
            for (size_t i = 0; i < y.size(); i++) { double q = std::fabs(y[i] - ref[i]) / (1e-6 * mag[i] + 1e-30); if (!(q <= worst)) worst = q, wi = i; }
            printf("%-17s %-45s N=%d H=%2d W=%2d worst %.3f x tol%s\n", v.name, describe(spec).c_str(), N, H, W, worst, worst > 1 ? "  FAIL" : "");
            if (worst > 1) failures++;
            (void)wi;
        }
    }
    printf("%d runs, %d failures (tolerance: 1e-6 x the term magnitude, as tests/check_reference.h)\n", runs, failures);
    return failures != 0;
}
