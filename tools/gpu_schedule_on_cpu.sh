#!/usr/bin/env bash
# Runs the CUDA GPU schedule without a GPU: the CUDA generator binary emits
# six variants (Haar plane L3 and L5, Haar tiled L2, general plane L4 and L8,
# general tiled L3) for an OpenCL target instead, and tools/gpu_schedule_on_cpu.cpp
# runs them on pocl's CPU OpenCL device against the double-precision
# reference. Same schedule as the CUDA variants, different code generator.
# Needs pocl (apt-get install pocl-opencl-icd); a few minutes on 2 cores
# (pocl compiles every kernel). Not part of tools/test.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$("$root/tools/configure.sh" "$@" | tail -n 1)"
export PATH="$root/.venv/bin:$PATH"
if ! ls /etc/OpenCL/vendors/*.icd >/dev/null 2>&1; then
    echo "[gpu_schedule_on_cpu] no OpenCL platform: install pocl-opencl-icd" >&2
    exit 2
fi
cmake --build "$build" -j 2 --target wtconv_cuda_generators
out="$build/gpu_schedule_on_cpu"
mkdir -p "$out"
gen="$build/generators/wtconv_cuda_generators"
target=x86-64-linux-sse41-opencl-user_context
"$gen" -r ocl_rt -e object -o "$out" target=$target
for spec in "haar true true 3" "haar true false 2" "general false true 4" "general false false 3" \
            "haar true true 5" "general false true 8"; do
    set -- $spec
    name=ocl_$1_$3_l$4
    "$gen" -g wtconv_fused -f $name -n $name -e object,c_header -o "$out" target=$target-no_runtime \
           levels=$4 haar=$2 channels_last=false gpu_plane=$3
done
halide_include="$(python -c 'import halide, os; print(os.path.join(os.path.dirname(halide.__file__), "include"))')"
c++ -std=c++17 -O1 -I"$out" -I"$root/include" -I"$root/runtime" -I"$root/tests" -I"$halide_include" \
    "$root/tools/gpu_schedule_on_cpu.cpp" "$root/runtime/weights.cpp" "$root/runtime/wavelets.cpp" \
    "$out"/ocl_*.o -ldl -lpthread -o "$out/gpu_schedule_on_cpu"
"$out/gpu_schedule_on_cpu"
