#!/usr/bin/env bash
# tools/adams2019_autotune.sh [options] -- <generator params>
#
# Adams2019's autotuning loop with the tools the halide wheel ships: its cost
# model is retrained on schedules of OUR pipeline measured on THIS machine,
# and the retrained weights then schedule the build:
#   cmake -DWTCONV_CPU_SCHEDULER=Adams2019 \
#         -DWTCONV_AUTOSCHEDULER_PARAMS="autoscheduler.weights_path=<out>/updated.weights" ...
# Each batch: S schedules of one fused variant (sample 0 the model's best with
# beam search, the others random probes: beam 1, random dropout, each its own
# seed), each compiled with RunGen (the wheel's share/tools/RunGenMain.cpp),
# benchmarked at the generator's estimates (the WTConvNeXt-T stage-1 shape),
# turned into a training sample (featurization_to_sample), then the model is
# retrained on every sample so far (adams2019_retrain_cost_model). The best
# schedule seen is kept as <out>/best.schedule.h, its time in <out>/best.benchmark.txt.
#
#   -o DIR      output folder (default <build>/autotune/<variant>); a rerun continues there
#   -b N        batches (default 1)        -s N   samples per batch (default 8)
#   -j N        parallel compiles (default 2)   -B N  beam size of sample 0 (default 8)
#   -t TARGET   Halide target (default: the wheel's get_host_target)
#   -g GEN      generator name (default wtconv_fused)
#   generator params: e.g. levels=5 haar=true channels_last=true (the default)
# The generator binary comes from $WTCONV_BUILD_DIR (default <repo>/build-as-Adams2019),
# built here if needed. Benchmarks use HL_NUM_THREADS = the machine's cores:
# run it on a quiet machine, like any timing.
#
# Same steps as Halide's adams2019_autotune_loop.sh (shipped in the wheel's
# share/tools), which cannot run as is from the wheel: it wants the plugin and
# the tools in one folder, a distribution folder with include/ and tools/, a
# starting weights file (the wheel has the baseline weights only inside the
# plugin: this script copies them out), and it fixes parallelism at 32.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
halide="$(ls -d "$root"/.venv/lib/python3*/site-packages/halide | head -n 1)"
out="" batches=1 samples=8 jobs=2 beam0=8 target="" generator=wtconv_fused
while getopts "o:b:s:j:B:t:g:" opt; do
    case "$opt" in
        o) out="$OPTARG" ;; b) batches="$OPTARG" ;; s) samples="$OPTARG" ;; j) jobs="$OPTARG" ;;
        B) beam0="$OPTARG" ;; t) target="$OPTARG" ;; g) generator="$OPTARG" ;;
        *) sed -n '2,30p' "$0" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
params=("$@")
((${#params[@]})) || params=(levels=5 haar=true channels_last=true)
variant="${generator}_$(printf '%s_' "${params[@]}" | tr -c 'A-Za-z0-9_\n' '_' | sed 's/_*$//')"

build="${WTCONV_BUILD_DIR:-$root/build-as-Adams2019}"
export PATH="$root/.venv/bin:$PATH"
if [ ! -x "$build/generators/wtconv_generators" ]; then
    WTCONV_BUILD_DIR="$build" "$root/tools/configure.sh" -DWTCONV_CPU_SCHEDULER=Adams2019 >/dev/null
    cmake --build "$build" --target wtconv_generators
fi
gen="$build/generators/wtconv_generators"
plugin="$halide/lib64/libautoschedule_adams2019.so"
[ -n "$target" ] || target="$("$halide/bin/get_host_target")"
cores="$(nproc)"
export HL_PERMIT_FAILED_UNROLL=1  # as tools/test_autoscheduled.sh: Adams2019 may unroll a run-time extent
out="${out:-$build/autotune/$variant}"
mkdir -p "$out"
weights="$out/updated.weights"

if [ ! -f "$weights" ]; then
    # The baseline weights the plugin starts from, copied out of the plugin.
    python3 - "$plugin" "$weights" <<'PY'
import struct, sys
so = open(sys.argv[1], "rb").read()

def weights_at(at):
    # Weights::load's layout: signature, two feature versions, 6 buffers of
    # (dimension count, extents, float data). None unless all of it fits.
    pos = at + 12
    count, = struct.unpack_from("<I", so, pos); pos += 4
    if count != 6:
        return None
    for _ in range(count):
        dims, = struct.unpack_from("<I", so, pos); pos += 4
        if not 1 <= dims <= 4:
            return None
        size = 4
        for _ in range(dims):
            e, = struct.unpack_from("<I", so, pos); pos += 4
            if not 1 <= e <= 4096:
                return None
            size *= e
        pos += size
    return pos if pos <= len(so) else None

at, end = so.find(struct.pack("<I", 0x68776631)), None  # Weights::kSignature, "1fwh"
while at >= 0 and end is None:
    end = weights_at(at)
    if end is None:
        at = so.find(struct.pack("<I", 0x68776631), at + 1)
assert end is not None, "no weights inside the plugin"
pos = end
open(sys.argv[2], "wb").write(so[at:pos])
print(f"[autotune] baseline weights ({pos - at} bytes) copied out of {sys.argv[1]}")
PY
fi
echo "[autotune] $variant on $target: $batches batch(es) of $samples, results in $out"

first=$(find "$out" -maxdepth 1 -name 'batch_*' | sed 's|.*/batch_||' | sort -n | tail -n 1)
first=$((${first:-0} + 1))
for ((batch = first; batch < first + batches; batch++)); do
    dir="$out/batch_$batch"
    mkdir -p "$dir"
    cp "$weights" "$dir/used.weights"
    start=$SECONDS
    compile() {  # <sample>
        local d="$dir/$1" seed beam dropout
        seed=$(printf "%04d%04d" "$batch" "$1")
        if [ "$1" = 0 ]; then beam=$beam0 dropout=100; else beam=1 dropout=1; fi
        mkdir -p "$d"
        if timeout 900 "$gen" -g "$generator" -f "$variant" -o "$d" \
                -e static_library,c_header,registration,schedule,featurization \
                target="$target" "${params[@]}" -p "$plugin" autoscheduler=WtconvSafe autoscheduler.base=Adams2019 \
                autoscheduler.parallelism="$cores" autoscheduler.beam_size="$beam" \
                autoscheduler.random_dropout="$dropout" autoscheduler.random_dropout_seed="$seed" \
                autoscheduler.weights_path="$dir/used.weights" 2>"$d/compile_log.txt" &&
           c++ -std=c++17 -O2 -I "$halide/include" -I "$halide/share/tools" "$halide/share/tools/RunGenMain.cpp" \
                "$d"/*.registration.cpp "$d"/*.a -o "$d/bench" -DHALIDE_NO_PNG -DHALIDE_NO_JPEG -ldl -lpthread \
                2>>"$d/compile_log.txt"; then
            :
        else
            echo "[autotune] sample $d failed to compile (see compile_log.txt)" >&2
        fi
    }
    for ((s = 0; s < samples; s++)); do
        while (($(jobs -r | wc -l) >= jobs)); do sleep 1; done
        compile "$s" &
    done
    wait
    echo "[autotune] batch $batch compiled in $((SECONDS - start)) s; benchmarking one at a time"
    for ((s = 0; s < samples; s++)); do
        d="$dir/$s"
        [ -x "$d/bench" ] || continue
        sleep 1
        if HL_NUM_THREADS="$cores" timeout 120 "$d/bench" --estimate_all --benchmarks=all >"$d/bench.txt" 2>&1; then
            seconds=$(sed -n 's/.*best case of \([0-9.e+-]*\) sec.*/\1/p' "$d/bench.txt" | head -n 1)
            echo "[autotune]   sample $s: $seconds s"
            "$halide/bin/featurization_to_sample" "$d/$variant.featurization" "$seconds" 0 \
                "$(printf "%04d%04d" "$batch" "$s")" "$d/$variant.sample" ||
                echo "[autotune] featurization_to_sample failed for $d" >&2
        else
            echo "[autotune]   sample $s: benchmark failed (see $d/bench.txt)" >&2
        fi
    done
    echo "[autotune] retraining the cost model on every sample so far"
    find "$out" -name "*.sample" | "$halide/bin/adams2019_retrain_cost_model" --epochs="$samples" \
        --rates=0.0001 --num_cores="$cores" --initial_weights="$weights" --weights_out="$weights" \
        --best_benchmark="$out/best.benchmark.txt" --best_schedule="$out/best.schedule.h"
    echo "[autotune] batch $batch took $((SECONDS - start)) s"
done
echo "[autotune] weights: $weights; best: $(cat "$out/best.benchmark.txt" 2>/dev/null || echo none)"
echo "[autotune] build with them: -DWTCONV_CPU_SCHEDULER=Adams2019 -DWTCONV_AUTOSCHEDULER_PARAMS=\"autoscheduler.beam_size=<n> autoscheduler.weights_path=$weights\""
