#!/usr/bin/env bash
# Quick start, tests: installs what is missing, builds everything and runs
# the whole suite with ctest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$("$root/tools/configure.sh" "$@" | tail -n 1)"
export PATH="$root/.venv/bin:$PATH"
cmake --build "$build" -j 2
ctest --test-dir "$build" --output-on-failure -j 2
