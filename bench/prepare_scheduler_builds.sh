#!/usr/bin/env bash
# bench/prepare_scheduler_builds.sh [scheduler ...]
#
# Makes the build folders bench/compare_schedulers.sh compares,
# <repo>/build-as-{hand,Mullapudi2016,Adams2019,Li2018} (or the schedulers
# named), each with the Haar variants of 2..5 levels (both layouts: every
# benchmark shape) and the general path at 2 levels, runs the whole test
# suite on each (tools/test_autoscheduled.sh), then a smoke run of every
# benchmark binary on one tiny shape (correctness, not timing). Builds only:
# the timing itself is bench/compare_schedulers.sh, on a quiet machine.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
schedulers=("$@")
((${#schedulers[@]})) || schedulers=(hand Mullapudi2016 Adams2019 Li2018)
failed=()
for s in "${schedulers[@]}"; do
    echo "[prepare] $s"
    "$root/tools/test_autoscheduled.sh" "$s" || failed+=("$s")
done
builds=()
for s in "${schedulers[@]}"; do builds+=("$root/build-as-$s"); done
"$root/bench/compare_schedulers.sh" --smoke "${builds[@]}"
if ((${#failed[@]})); then
    echo "[prepare] tests failed for: ${failed[*]}" >&2
    exit 1
fi
