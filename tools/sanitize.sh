#!/usr/bin/env bash
# CI, after tools/test.sh: the test suite built with AddressSanitizer and
# UndefinedBehaviorSanitizer (and the thread pool's suite with
# ThreadSanitizer), then the libFuzzer target of the safetensors
# parser for WTCONV_FUZZ_SECONDS (default 60). Both must be clean.
#
# The sanitized suite lives in the same build folder as tools/test.sh's: the
# runtime, the wtconv command and every test compiled again with the
# sanitizers (cmake/WtconvSanitize.cmake), linked with the Halide AOT objects
# already built there (not instrumented). The fuzzer is a small clang project
# (fuzz/) in <build>/fuzz; its corpus grows there, seeded from
# tests/golden_safetensors/, and any crashing input is left there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$("$root/tools/configure.sh" "$@" | tail -n 1)"
export PATH="$root/.venv/bin:$PATH"

echo "[sanitize] building the ASan+UBSan copies of the runtime, the wtconv command and the test suites (and a TSan one of the thread pool's)"
cmake --build "$build" -j 2 --target wtconv_sanitized
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:check_initialization_order=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
ctest --test-dir "$build" -C Sanitize -L sanitize --output-on-failure -j 2

fuzz="$build/fuzz"
seconds="${WTCONV_FUZZ_SECONDS:-60}"
echo "[sanitize] building the safetensors fuzzer (clang, libFuzzer + ASan + UBSan)"
cmake -S "$root/fuzz" -B "$fuzz" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$fuzz"
mkdir -p "$fuzz/corpus"
cp -n "$root"/tests/golden_safetensors/*.safetensors "$fuzz/corpus/"
echo "[sanitize] fuzzing the safetensors parser for ${seconds} s (corpus: $fuzz/corpus)"
if ! "$fuzz/safetensors_fuzzer" -max_total_time="$seconds" -dict="$root/fuzz/safetensors.dict" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$fuzz/" "$fuzz/corpus" >"$fuzz/fuzz.log" 2>&1; then
    tail -n 60 "$fuzz/fuzz.log"
    echo "[sanitize] the fuzzer found a problem: the input is in $fuzz/ (crash-*, leak-*, timeout-*, oom-*)" >&2
    exit 1
fi
grep -E "^(Done|stat::number_of_executed_units|stat::new_units_added|stat::peak_rss_mb)" "$fuzz/fuzz.log"
echo "[sanitize] clean"
