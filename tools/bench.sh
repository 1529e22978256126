#!/usr/bin/env bash
# Quick start, main job: installs what is missing, builds the wtconv command
# and runs `wtconv bench` on the four WTConvNeXt-T stages at batch 1: fused,
# staged and plain depthwise times, GFLOP/s, GB/s, speed-ups and the error
# against the double-precision reference. Arguments go to `wtconv bench`
# (e.g. --json, --shape 8,96,56,56). The Google Benchmark binary with the
# oneDNN baseline is build/bench/wtconv_bench (tools/test.sh builds it).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$("$root/tools/configure.sh" | tail -n 1)"
export PATH="$root/.venv/bin:$PATH"
cmake --build "$build" -j 2 --target wtconv_cli
"$build/cli/wtconv" bench "$@"
