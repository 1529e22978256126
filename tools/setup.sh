#!/usr/bin/env bash
# Installs everything the build needs, on a fresh Debian/Ubuntu machine too:
# the apt packages (compiler, Python with venv and headers, GoogleTest,
# Google Benchmark, nlohmann-json, CLI11, stb, clang for the fuzzer) and the project-local .venv with the pinned Halide,
# CMake and ninja (requirements.txt). Safe to run again: it only installs
# what is missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

apt_packages=(build-essential git python3 python3-venv python3-dev python3-pip
              libgtest-dev libbenchmark-dev libdnnl-dev
              nlohmann-json3-dev libcli11-dev libstb-dev   # safetensors headers, the wtconv command
              clang libclang-rt-14-dev)                     # libFuzzer (tools/sanitize.sh)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "[setup] installing apt packages: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

venv="$root/.venv"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$root/requirements.txt" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "[setup] creating $venv with $(command -v python3) and installing requirements.txt"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q -r "$root/requirements.txt"
    echo "$want" > "$stamp"
fi
