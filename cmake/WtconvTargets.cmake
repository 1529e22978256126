# The Halide targets the AOT objects are compiled for. A list is one function
# with run-time CPU dispatch: most specific first, the always-usable baseline
# last (Halide's multi-target rule).
set(WTCONV_CPU_TARGETS
    "x86-64-linux-sse41-avx-avx2-f16c-fma-avx512-avx512_skylake;x86-64-linux-sse41-avx-avx2-f16c-fma;x86-64-linux-sse41"
    CACHE STRING "Halide targets of the CPU pipelines (multi-target dispatch, baseline last)")

# Level counts compiled as fused variants. Level counts beyond the general
# list run through the staged pipeline (every stage compiled and scheduled).
set(WTCONV_HAAR_LEVELS 1 2 3 4 5 CACHE STRING "Fused Haar fast-path level counts")
set(WTCONV_GENERAL_LEVELS 1 2 3 4 5 6 7 8 CACHE STRING "Fused general-path level counts")

# Where the CPU schedules come from: the hand schedules of schedules/ (the
# default), or one of Halide's autoschedulers, planning with the estimates
# each generator sets (WTConvNeXt-T stage 1 shapes). Adams2019 searches for
# minutes per variant: narrow WTCONV_*_LEVELS when trying it.
set(WTCONV_CPU_SCHEDULER "hand" CACHE STRING "CPU schedule source: hand, Mullapudi2016, Adams2019 or Li2018")
set_property(CACHE WTCONV_CPU_SCHEDULER PROPERTY STRINGS hand Mullapudi2016 Adams2019 Li2018)

# CUDA: the fused pipelines compiled a second time for a host + CUDA target
# (PTX for sm_80, which the driver also JIT-compiles for Hopper). Building
# them needs only Halide, not the CUDA toolkit; running them needs a driver
# (libcuda.so.1, loaded at run time, never linked).
option(WTCONV_CUDA "Build the CUDA pipelines (Layer::forward_cuda)" ON)
set(WTCONV_CUDA_TARGET "x86-64-linux-sse41-cuda-cuda_capability_80-user_context"
    CACHE STRING "Halide target of the CUDA pipelines (host part + cuda feature; keep user_context)")
# Largest plane (H and W) of the one-launch CUDA plan: its shared memory is
# sized for this plane (at most 32.5 KB at 56, under Halide's 48 KB per block;
# schedules/gpu_schedules.h). Not a cache variable: raising it breaks that budget.
set(WTCONV_CUDA_PLANE_MAX 56)
