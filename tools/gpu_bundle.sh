#!/usr/bin/env bash
# Run HERE (the build machine, no GPU needed): builds what a lent GPU machine
# runs and copies it into gpu-bundle/ (git-ignored), which the device tool
# carries with the working tree (`carry: ["gpu-bundle"]`; README, "CUDA on a
# lent GPU"); tools/gpu_check.sh runs it there.
#
#   gpu-bundle/bin/   wtconv_cuda_bench, and the CUDA test suites (test_cuda*) if the build has them
#   gpu-bundle/lib/   the small shared libraries they need that are not the C/C++ runtime
#                     (e.g. libbenchmark.so.1); never libcuda (the driver's) or libcudnn
#                     (~500 MB: gpu_check.sh takes the one in PyTorch's wheel there)
#   gpu-bundle/MANIFEST.txt   commit, date, toolkit, sizes, ldd of each binary
#
# The CUDA runtime is linked statically and cuDNN is opened at run time, so
# the binaries need nothing else there. Binaries are stripped; the bundle
# must stay under 48 MiB (the tool carries 64 MiB in all, the tree included).
# Arguments go to tools/configure.sh (cmake), e.g. -DWTCONV_CPU_ISA=... .
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$("$root/tools/configure.sh" "$@" | tail -n 1)"
export PATH="$root/.venv/bin:$PATH"
bundle="$root/gpu-bundle"
limit_mib=48

# What the build defines: the benchmark (needs the CUDA toolkit and cuDNN at
# configure time) and any CUDA test suite.
mapfile -t all_targets < <(ninja -C "$build" -t targets all | sed -n 's/^\([A-Za-z0-9_]*\): phony$/\1/p' | sort -u)
targets=()
for t in "${all_targets[@]}"; do
    case "$t" in wtconv_cuda_bench | test_cuda*) targets+=("$t") ;; esac
done
if [[ ! " ${targets[*]} " == *" wtconv_cuda_bench "* ]]; then
    echo "gpu_bundle: the build has no wtconv_cuda_bench target: cmake found no CUDA toolkit or cuDNN 9" >&2
    echo "            (see the 'wtconv_cuda_bench:' line of: cmake -S $root -B $build)" >&2
    exit 1
fi
echo "gpu_bundle: building ${targets[*]} in $build" >&2
cmake --build "$build" -j 2 --target "${targets[@]}"

rm -rf "$bundle"
mkdir -p "$bundle/bin" "$bundle/lib"
declare -A libs=()
for t in "${targets[@]}"; do
    exe="$(find "$build" -type f -name "$t" -perm -u+x | head -n 1)"
    [[ -n "$exe" ]] || { echo "gpu_bundle: built $t but cannot find it under $build" >&2; exit 1; }
    cp "$exe" "$bundle/bin/$t"
    strip --strip-unneeded "$bundle/bin/$t"
    # Shared libraries outside the C/C++ runtime and the GPU stack.
    while read -r name path; do
        case "$name" in
        linux-vdso* | ld-linux* | libc.so* | libm.so* | libdl.so* | libpthread.so* | librt.so* | libgcc_s.so* | \
            libstdc++.so* | libcuda.so* | libcudnn* | libnvidia*) continue ;;
        esac
        [[ -f "$path" ]] || { echo "gpu_bundle: $t needs $name, not found here" >&2; exit 1; }
        libs["$name"]="$path"
    done < <(ldd "$exe" | awk '/=>/ { print $1, $3 }')
done
for name in "${!libs[@]}"; do
    size=$(stat -Lc %s "${libs[$name]}")
    if (( size > 16 * 1024 * 1024 )); then
        echo "gpu_bundle: $name (${libs[$name]}) is $((size >> 20)) MiB: too large to carry" >&2
        exit 1
    fi
    cp -L "${libs[$name]}" "$bundle/lib/$name"
done

{
    echo "wtconv gpu-bundle"
    echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' (uncommitted changes)')"
    echo "branch: $(git -C "$root" rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)"
    echo "built: $(date -u '+%Y-%m-%d %H:%M UTC') on $(sed -n "s/^PRETTY_NAME=//p" /etc/os-release | tr -d "\""), $(ldd --version | head -n 1)"
    nvcc="$(sed -n 's/^CUDAToolkit_NVCC_EXECUTABLE:FILEPATH=//p' "$build/CMakeCache.txt")"
    echo "cuda toolkit: ${nvcc:-?} ($("${nvcc:-false}" --version 2>/dev/null | grep -o 'release [0-9.]*' || echo '?'))"
    echo "files:"
    (cd "$bundle" && find bin lib -type f -printf '  %p %s\n' | sort)
    for t in "${targets[@]}"; do
        echo "ldd $t (here):"
        ldd "$bundle/bin/$t" | sed 's/^/  /'
    done
} >"$bundle/MANIFEST.txt"

bytes=$(du -sb "$bundle" | cut -f1)
tree=$(git -C "$root" ls-files -z | xargs -0 du -cb 2>/dev/null | tail -n 1 | cut -f1)
echo "gpu_bundle: $bundle: $((bytes >> 20)) MiB (tracked tree $((tree >> 20)) MiB; the tool carries 64 MiB in all)" >&2
if (( bytes > limit_mib * 1024 * 1024 )); then
    echo "gpu_bundle: over ${limit_mib} MiB: too large to carry with the tree" >&2
    exit 1
fi
cat "$bundle/MANIFEST.txt"
