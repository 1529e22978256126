#!/usr/bin/env bash
# Runs tools/setup.sh, then configures the build folder (default: build/)
# against the venv's Halide, CMake and ninja. Extra arguments go to cmake.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/tools/setup.sh" >&2
export PATH="$root/.venv/bin:$PATH"
build="${WTCONV_BUILD_DIR:-$root/build}"
cmake -S "$root" -B "$build" -G Ninja \
      -DCMAKE_PREFIX_PATH="$root/.venv" -DPython_EXECUTABLE="$root/.venv/bin/python" "$@" >/dev/null
echo "$build"
