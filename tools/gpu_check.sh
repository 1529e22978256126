#!/usr/bin/env bash
# Run THERE, on a lent GPU machine (the device tool; README, "CUDA on a lent
# GPU"), in the repository root, with gpu-bundle/ made here by
# tools/gpu_bundle.sh and carried along. Nothing is built there (no Halide).
# In order, each stage under its own timeout (under 5 minutes in all, at most):
#   1. logs the GPU (nvidia-smi: name, driver, clocks, memory) and the bundle's manifest
#   2. finds cuDNN 9 (and nvrtc) in PyTorch's wheel (site-packages/nvidia/...)
#   3. the CUDA test suites of the bundle (test_cuda*)
#   4. wtconv_cuda_bench (--benchmark_out JSON), then its ours and copy rows once more (noise)
#   5. bench/pytorch_cuda_bench.py (the reference module and F.conv2d on the same shapes)
#   6. a short summary, printed LAST (the tool returns the end of the output)
# Everything lands in $OUT (the tool brings it back; default ./gpu-out):
# env.txt, test_cuda.log, wtconv_cuda_bench.{log,json}, pytorch_cuda_bench.{log,json}, summary.txt.
# Exit status: 0 if every stage that ran passed. Never touches the GPU's settings.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 1
bundle="${WTCONV_GPU_BUNDLE:-$root/gpu-bundle}"
out="${OUT:-$root/gpu-out}"
mkdir -p "$out"
summary="$out/summary.txt"
: >"$summary"
status=0
note() { echo "$*" | tee -a "$summary"; }
stage() { echo "[gpu_check $(date -u +%H:%M:%S)] $*"; }

# 1. The machine.
stage "environment -> $out/env.txt"
{
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    uname -a
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,memory.total,temperature.gpu,power.draw \
        --format=csv
    nvidia-smi
    echo "--- bundle"
    cat "$bundle/MANIFEST.txt" 2>/dev/null || echo "no $bundle/MANIFEST.txt: run tools/gpu_bundle.sh here and carry gpu-bundle"
} >"$out/env.txt" 2>&1
gpu="$(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader 2>/dev/null | head -n 1)"
note "GPU: ${gpu:-nvidia-smi failed}; $(date -u '+%Y-%m-%d %H:%M UTC'); bundle $(sed -n 's/^commit: //p' "$bundle/MANIFEST.txt" 2>/dev/null)"
if [[ ! -x "$bundle/bin/wtconv_cuda_bench" ]]; then
    note "no $bundle/bin/wtconv_cuda_bench: run tools/gpu_bundle.sh on the build machine and carry gpu-bundle"
    status=1
fi

# 2. cuDNN (and nvrtc, for cuDNN's runtime-compiled engines) from PyTorch's wheel.
site="$(python3 -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))' 2>/dev/null)"
cudnn="$( [[ -n "$site" ]] && find "$site/nvidia" -name 'libcudnn.so.9' 2>/dev/null | head -n 1)"
nvdirs="$( [[ -n "$site" ]] && find "$site/nvidia" -name 'lib*.so*' -printf '%h\n' 2>/dev/null | sort -u | paste -sd: -)"
if [[ -n "$cudnn" ]]; then
    note "cuDNN: $cudnn"
    export WTCONV_CUDNN_LIBRARY="$cudnn"
else
    note "cuDNN: libcudnn.so.9 not found under ${site:-<no torch>}/nvidia: the cuDNN rows will say why they skip"
fi
bin_env=(env "LD_LIBRARY_PATH=$bundle/lib${nvdirs:+:$nvdirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
echo "LD_LIBRARY_PATH for the bundle's binaries: $bundle/lib:$nvdirs" >>"$out/env.txt"
for b in "$bundle"/bin/*; do
    [[ -x "$b" ]] || continue
    missing="$("${bin_env[@]}" ldd "$b" | grep 'not found')"
    [[ -z "$missing" ]] || note "$(basename "$b") cannot load: $missing"
done

# 3. CUDA tests.
: >"$out/test_cuda.log"
tests=("$bundle"/bin/test_cuda*)
if [[ -x "${tests[0]}" ]]; then
    for t in "${tests[@]}"; do
        stage "$(basename "$t") (timeout 75 s) -> $out/test_cuda.log"
        "${bin_env[@]}" timeout 75 "$t" >>"$out/test_cuda.log" 2>&1
        rc=$?
        if ((rc == 0)); then
            note "$(basename "$t"): passed ($(grep -c '^\[       OK \]' "$out/test_cuda.log") OK, $(grep -c '^\[  SKIPPED \] .*ms)$' "$out/test_cuda.log") skipped, so far)"
        else
            status=1
            note "$(basename "$t"): FAILED (exit $rc$( ((rc == 124)) && echo ', timed out')); failures:"
            grep -E '^\[  FAILED  \]|Failure|error' "$out/test_cuda.log" | head -n 15 | tee -a "$summary"
        fi
    done
else
    note "CUDA tests: none in the bundle (the build had no test_cuda* target)"
fi

# 4. The benchmark, then the ours and copy rows again (the spread between
#    the two passes is the noise).
if [[ -x "$bundle/bin/wtconv_cuda_bench" ]]; then
    stage "wtconv_cuda_bench (timeout 120 s) -> $out/wtconv_cuda_bench.{log,json}"
    "${bin_env[@]}" timeout 120 "$bundle/bin/wtconv_cuda_bench" --benchmark_min_time=0.2 \
        --benchmark_out="$out/wtconv_cuda_bench.json" --benchmark_out_format=json >"$out/wtconv_cuda_bench.log" 2>&1
    rc=$?
    ((rc == 0)) || { status=1; note "wtconv_cuda_bench: FAILED (exit $rc$( ((rc == 124)) && echo ', timed out'))"; tail -n 20 "$out/wtconv_cuda_bench.log" | tee -a "$summary"; }
    stage "wtconv_cuda_bench, ours and copy again (timeout 30 s)"
    echo "=== second pass (noise): ours and copy rows" >>"$out/wtconv_cuda_bench.log"
    "${bin_env[@]}" WTCONV_BENCH_NO_CAPTURE=1 timeout 30 "$bundle/bin/wtconv_cuda_bench" --benchmark_min_time=0.2 \
        --benchmark_filter='^(ours|copy)/' >>"$out/wtconv_cuda_bench.log" 2>&1 || note "wtconv_cuda_bench second pass: exit $?"
fi

# 5. PyTorch: the reference module and F.conv2d on the same shapes.
stage "pytorch_cuda_bench.py (timeout 70 s) -> $out/pytorch_cuda_bench.{log,json}"
PYTHONUNBUFFERED=1 timeout 70 python3 "$root/bench/pytorch_cuda_bench.py" --min-seconds 0.2 \
    --json "$out/pytorch_cuda_bench.json" >"$out/pytorch_cuda_bench.log" 2>&1
rc=$?
((rc == 0)) || { status=1; note "pytorch_cuda_bench.py: FAILED (exit $rc$( ((rc == 124)) && echo ', timed out'))"; tail -n 15 "$out/pytorch_cuda_bench.log" | tee -a "$summary"; }

# 6. Summary, last.
{
    echo
    echo "==================== gpu_check summary ===================="
    cat "$summary"
    echo
    # The benchmark's skip lines, its summary table and labels; the second
    # pass's per-call medians; the PyTorch table.
    grep -E 'skipped' "$out/wtconv_cuda_bench.log" 2>/dev/null
    sed -n '/^== wtconv_cuda_bench summary/,/^=== second pass/p' "$out/wtconv_cuda_bench.log" 2>/dev/null | grep -v '^=== second'
    echo "second pass (noise), per-call median us:"
    sed -n '/^=== second pass/,$p' "$out/wtconv_cuda_bench.log" 2>/dev/null |
        grep -E '^  (ours|copy)/' | awk '{ printf "  %-32s %s\n", $1, $2 }'
    echo
    sed -n '/^== pytorch_cuda_bench summary/,$p' "$out/pytorch_cuda_bench.log" 2>/dev/null
    grep -E 'skipped' "$out/pytorch_cuda_bench.log" 2>/dev/null
    echo "gpu_check: exit $status; logs in $out"
} | tee "$out/summary.tmp"
mv "$out/summary.tmp" "$summary"
exit $status
