#!/usr/bin/env bash
# Quick start, main job: installs what is missing, builds the benchmark and
# runs it on the WTConvNeXt-T stage shapes: fused, staged and plain
# depthwise times, and the error against the reference. Arguments go to the
# benchmark (e.g. --benchmark_filter=fused).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$("$root/tools/configure.sh" | tail -n 1)"
export PATH="$root/.venv/bin:$PATH"
cmake --build "$build" -j 2 --target wtconv_bench
"$build/bench/wtconv_bench" "$@"
