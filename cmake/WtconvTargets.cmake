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
# each generator sets (the WTConvNeXt-T stage of each level count) and made valid for every
# size by the WtconvSafe wrapper (generators/wtconv_autoscheduler.cpp). Each
# autoscheduled library keeps what was chosen as <build>/generators/<library>.schedule.h.
# docs/NEW-HARDWARE.md: build times and settings per autoscheduler.
set(WTCONV_CPU_SCHEDULER "hand" CACHE STRING "CPU schedule source: hand, Mullapudi2016, Adams2019 or Li2018")
set_property(CACHE WTCONV_CPU_SCHEDULER PROPERTY STRINGS hand Mullapudi2016 Adams2019 Li2018)

# NCHW layers with planes of at most this many pixels run the channels-last
# pipeline, repacked on the way in and out (docs/PERFORMANCE.md, step 15);
# 0: never. Autoscheduled builds default to 0: bench/compare_schedulers.sh
# then times each autoscheduler's own NCHW schedule.
if (WTCONV_CPU_SCHEDULER STREQUAL "hand")
    set(_wtconv_via_default 3136)  # 56 x 56: measured faster up to there, slower from 64 x 64 (PERFORMANCE.md step 15)
else ()
    set(_wtconv_via_default 0)
endif ()
set(WTCONV_NCHW_VIA_CHANNELS_LAST_MAX_PIXELS ${_wtconv_via_default} CACHE STRING
    "NCHW planes of at most this many pixels run the channels-last pipeline (repacked); 0: never")

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

# The CUDA pipelines' schedule source: hand (schedules/gpu_schedules.h),
# Anderson2021 or Li2018, through the same WtconvSafe wrapper as the CPU ones
# (wtconv_autoschedule_args() in generators/CMakeLists.txt builds the arguments).
set(WTCONV_GPU_SCHEDULER "hand" CACHE STRING "CUDA schedule source: hand, Anderson2021 or Li2018")
set_property(CACHE WTCONV_GPU_SCHEDULER PROPERTY STRINGS hand Anderson2021 Li2018)
set(WTCONV_GPU_AUTOSCHEDULER_PARALLELISM 132 CACHE STRING
    "autoscheduler.parallelism of the CUDA pipelines: the GPU's SM count (132: H100 SXM and H200)")
cmake_host_system_information(RESULT _wtconv_cores QUERY NUMBER_OF_LOGICAL_CORES)
set(WTCONV_AUTOSCHEDULER_PARALLELISM "${_wtconv_cores}" CACHE STRING
    "autoscheduler.parallelism: the cores (CPU) or SMs (CUDA) of the machine the code is for")
set(WTCONV_AUTOSCHEDULER_PARAMS "" CACHE STRING
    "More autoscheduler.<key>=<value> parameters, e.g. autoscheduler.beam_size=1 for Adams2019")

# Targets for another machine (e.g. arm-64-linux, arm-64-osx): only the AOT
# objects and the Halide runtime are built (target wtconv_aot), as IMPORTED
# archives; the library, the wtconv command, tests and benchmarks need the
# host's targets. tools/cross_compile.sh configures such a build.
set(_wtconv_first_target "${WTCONV_CPU_TARGETS}")
list(GET _wtconv_first_target 0 _wtconv_first_target)
if (_wtconv_first_target MATCHES "^host" OR _wtconv_first_target MATCHES "^x86-64-linux")
    set(_wtconv_foreign OFF)
else ()
    set(_wtconv_foreign ON)
endif ()
option(WTCONV_AOT_ONLY "Build only the AOT objects and the Halide runtime (automatic for non-host targets)"
       ${_wtconv_foreign})
if (_wtconv_foreign AND NOT WTCONV_AOT_ONLY)
    message(FATAL_ERROR "WTCONV_CPU_TARGETS=${WTCONV_CPU_TARGETS} is not for this machine: "
                        "only WTCONV_AOT_ONLY=ON builds can use it")
endif ()
