#!/usr/bin/env bash
# tools/test_autoscheduled.sh <Mullapudi2016|Adams2019|Li2018|hand> [cmake -D... ...]
#
# Builds the library with every CPU pipeline scheduled by one of Halide's
# autoschedulers and runs the whole test suite (ctest) on it: the outputs
# must match the reference exactly as the hand-scheduled build's do, on
# every size (1x1, prime and odd planes, 1..40 channels).
#
# The build folder is <repo>/build-as-<scheduler> (WTCONV_BUILD_DIR overrides);
# it is also the one bench/compare_schedulers.sh times. It is narrowed to
# the variants the benchmark shapes need, Haar levels 2..5, plus the general
# path at 2 levels (every wavelet's tests); the stage pipelines (the staged
# path) are autoscheduled too. Tests that name a fused path skip the level
# counts a build did not compile (tests/check_reference.h). For every level:
#   tools/test_autoscheduled.sh Mullapudi2016 -DWTCONV_HAAR_LEVELS="1;2;3;4;5" -DWTCONV_GENERAL_LEVELS="1;2;3;4;5;6;7;8"
# Adams2019 runs greedy (autoscheduler.beam_size=1) unless
# WTCONV_AUTOSCHEDULER_PARAMS says otherwise: its default beam search (32)
# takes more than 5 minutes per variant here (docs/NEW-HARDWARE.md).
# Each library's chosen schedule: <build>/generators/<library>.schedule.h.
# "hand" makes the same narrowed build with the hand schedules (the
# reference of bench/compare_schedulers.sh can also be tools/test.sh's full
# build: bench/prepare_scheduler_builds.sh links it as build-as-hand).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
scheduler="${1:-}"
case "$scheduler" in
    hand | Mullapudi2016 | Adams2019 | Li2018) shift ;;
    *) echo "usage: $0 <Mullapudi2016|Adams2019|Li2018|hand> [cmake -D... ...]" >&2; exit 2 ;;
esac
if [ -z "${WTCONV_AUTOSCHEDULER_PARAMS+set}" ]; then
    WTCONV_AUTOSCHEDULER_PARAMS=""
    [ "$scheduler" = Adams2019 ] && WTCONV_AUTOSCHEDULER_PARAMS="autoscheduler.beam_size=1"
fi
export WTCONV_BUILD_DIR="${WTCONV_BUILD_DIR:-$root/build-as-$scheduler}"
if [ -L "$WTCONV_BUILD_DIR" ]; then
    echo "$WTCONV_BUILD_DIR is a link (to $(readlink "$WTCONV_BUILD_DIR")): not narrowing that build" >&2
    exit 1
fi
# Adams2019 sometimes unrolls a loop whose extent is a run-time value (the
# taps loop: k is 5 in the estimates, not a constant), which Halide refuses
# ("Can only unroll for loops over a constant extent") unless this is set;
# then such a loop stays a serial loop. Halide's own autotuning scripts set it.
export HL_PERMIT_FAILED_UNROLL=1
build="$("$root/tools/configure.sh" -DWTCONV_CPU_SCHEDULER="$scheduler" \
         -DWTCONV_AUTOSCHEDULER_PARAMS="$WTCONV_AUTOSCHEDULER_PARAMS" \
         -DWTCONV_HAAR_LEVELS="2;3;4;5" -DWTCONV_GENERAL_LEVELS="2" "$@" | tail -n 1)"
export PATH="$root/.venv/bin:$PATH"
start=$SECONDS
cmake --build "$build" -j 2
echo "[test_autoscheduled] $scheduler: built in $((SECONDS - start)) s ($build)"
ctest --test-dir "$build" --output-on-failure -j 2
