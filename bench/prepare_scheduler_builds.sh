#!/usr/bin/env bash
# bench/prepare_scheduler_builds.sh [scheduler ...]
#
# Makes the build folders bench/compare_schedulers.sh compares and runs the
# whole test suite on each: <repo>/build-as-{Mullapudi2016,Adams2019,Li2018}
# (or the schedulers named) by tools/test_autoscheduled.sh, each with the
# Haar variants of 2..5 levels (both layouts: every benchmark shape) and the
# general path at 2 levels; "hand" is tools/test.sh's full build (build/),
# linked as build-as-hand. Then a smoke run of every benchmark binary on one
# tiny shape (correctness, not timing). Builds only: the timing itself is
# bench/compare_schedulers.sh, on a quiet machine.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
schedulers=("$@")
((${#schedulers[@]})) || schedulers=(hand Mullapudi2016 Adams2019 Li2018)
failed=()
for s in "${schedulers[@]}"; do
    echo "[prepare] $s"
    if [ "$s" = hand ]; then
        "$root/tools/test.sh" || failed+=("$s")
        [ -e "$root/build-as-hand" ] || ln -s build "$root/build-as-hand"
    else
        "$root/tools/test_autoscheduled.sh" "$s" || failed+=("$s")
    fi
done
builds=()
for s in "${schedulers[@]}"; do builds+=("$root/build-as-$s"); done
"$root/bench/compare_schedulers.sh" --smoke "${builds[@]}"
if ((${#failed[@]})); then
    echo "[prepare] tests failed for: ${failed[*]}" >&2
    exit 1
fi
