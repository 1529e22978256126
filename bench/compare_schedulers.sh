#!/usr/bin/env bash
# bench/compare_schedulers.sh [--min-time S] [--rounds R] [--smoke] [[name=]build folder ...]
#
# The hand schedule against Halide's CPU autoschedulers, in one run: the fused
# WTConv2d forward (NCHW and channels-last) of bench/wtconv_bench on the CPU
# benchmark shapes, each shape timed by every build's binary in turn
# (interleaved, so that a noisy stretch hits every scheduler alike), medians
# of the binary's 5 repetitions (R rounds: the median of the R medians), and
# the ratio to the hand schedule (> 1: the hand schedule is faster).
#
# A build is named by its WTCONV_CPU_SCHEDULER unless given as name=folder
# (e.g. before=../old/build after=build: two hand-scheduled builds).
# Build folders default to <repo>/build-as-{hand,Mullapudi2016,Adams2019,Li2018},
# those that exist; the first one is the reference of the ratios. Make them
# with bench/prepare_scheduler_builds.sh (Haar levels 2..5, both layouts).
# --smoke: one tiny shape with a minimal time, to check every binary runs
# and is correct (not a timing). Output: a markdown table on stdout; the raw
# Google Benchmark JSON files in $WTCONV_COMPARE_DIR (default: a temp dir).
# Timing needs a quiet machine: nothing else running.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
min_time=0.2
rounds=1
smoke=0
builds=()
while (($#)); do
    case "$1" in
        --min-time) min_time="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --smoke) smoke=1; min_time=0.001; shift ;;
        -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
        *) builds+=("$1"); shift ;;
    esac
done
if ((${#builds[@]} == 0)); then
    for s in hand Mullapudi2016 Adams2019 Li2018; do
        [ -x "$root/build-as-$s/bench/wtconv_bench" ] && builds+=("$root/build-as-$s")
    done
fi
if ((${#builds[@]} == 0)); then
    echo "no build folders with bench/wtconv_bench (bench/prepare_scheduler_builds.sh makes them)" >&2
    exit 1
fi
out="${WTCONV_COMPARE_DIR:-$(mktemp -d /tmp/wtconv-compare.XXXXXX)}"
mkdir -p "$out"

shapes=(1x96x56x56/L5 1x192x28x28/L4 1x384x14x14/L3 1x768x7x7/L2
        8x96x56x56/L5 8x192x28x28/L4 8x384x14x14/L3 8x768x7x7/L2
        1x64x224x224/L3 1x32x512x512/L4)
((smoke)) && shapes=(1x768x7x7/L2)

names=()
for i in "${!builds[@]}"; do
    b="${builds[$i]}"
    name=""
    if [[ "$b" == *=* ]]; then
        name="${b%%=*}"
        b="${b#*=}"
        builds[$i]="$b"
    fi
    [ -x "$b/bench/wtconv_bench" ] || { echo "$b/bench/wtconv_bench: not built" >&2; exit 1; }
    s="$(sed -n 's/^WTCONV_CPU_SCHEDULER:STRING=//p' "$b/CMakeCache.txt")"
    name="${name:-${s:-$(basename "$b")}}"
    for n in "${names[@]}"; do
        [ "$n" != "$name" ] || { echo "two builds named $name: name them, e.g. before=$b" >&2; exit 2; }
    done
    names+=("$name")
done
echo "[compare] ${names[*]}; min_time $min_time s, $rounds round(s); raw results in $out" >&2

for ((r = 1; r <= rounds; r++)); do
    for shape in "${shapes[@]}"; do
        for i in "${!builds[@]}"; do
            filter="^fused_(nchw|nhwc)/${shape}(/|$)"
            json="$out/r${r}-${names[$i]}-${shape//\//_}.json"
            echo "[compare] round $r, $shape, ${names[$i]}" >&2
            # The binary's own table (last lines) has the error against the reference.
            if ! "${builds[$i]}/bench/wtconv_bench" --benchmark_filter="$filter" --benchmark_min_time="$min_time" \
                    --benchmark_out="$json" --benchmark_out_format=json >"${json%.json}.txt" 2>&1; then
                cat "${json%.json}.txt" >&2
                echo "[compare] ${names[$i]} failed on $shape" >&2
                exit 1
            fi
        done
    done
done

"$root/.venv/bin/python" - "$out" "$rounds" "${names[@]}" <<'PY'
import json, statistics, sys, glob, os, re
out, rounds, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
med, label, err = {}, {}, {}
for path in glob.glob(os.path.join(out, "r*.json")):
    m = re.match(r"r(\d+)-(.+?)-(\d+x\d+x\d+x\d+_L\d+)\.json$", os.path.basename(path))
    name, shape = m.group(2), m.group(3).replace("_", "/")
    for b in json.load(open(path))["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        layout = b["run_name"].split("/")[0].replace("fused_", "")
        scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b["time_unit"]]
        med.setdefault((shape, layout, name), []).append(b["real_time"] * scale)
        label[(shape, layout, name)] = b.get("label", "")
    for line in open(path[:-5] + ".txt"):
        f = line.split()
        if f and f[0] == shape and len(f) >= 12:
            err[(shape, name)] = max(err.get((shape, name), 0.0), float(f[11]))
order = ["1x96x56x56/L5", "1x192x28x28/L4", "1x384x14x14/L3", "1x768x7x7/L2", "8x96x56x56/L5",
         "8x192x28x28/L4", "8x384x14x14/L3", "8x768x7x7/L2", "1x64x224x224/L3", "1x32x512x512/L4"]
shapes = [s for s in order if any(k[0] == s for k in med)]
ref = names[0]
head = ["shape", "layout"] + [f"{n} ms" for n in names] + [f"{n} / {ref}" for n in names[1:]] + ["fastest", "max error"]
print("| " + " | ".join(head) + " |")
print("|" + " --- |" * len(head))
worst_ratio = {n: [] for n in names[1:]}
for shape in shapes:
    for layout in ("nchw", "nhwc"):
        t = {n: statistics.median(med[(shape, layout, n)]) for n in names if (shape, layout, n) in med}
        if ref not in t:
            continue
        row = [shape, layout] + [f"{t[n]:.3f}" if n in t else "-" for n in names]
        for n in names[1:]:
            row.append(f"{t[n] / t[ref]:.2f}" if n in t else "-")
            if n in t:
                worst_ratio[n].append(t[n] / t[ref])
        row.append(min(t, key=t.get))
        e = max((err.get((shape, n), float("nan")) for n in names), default=float("nan"))
        row.append(f"{e:.1e}")
        print("| " + " | ".join(row) + " |")
print()
for n in names[1:]:
    if worst_ratio[n]:
        r = worst_ratio[n]
        print(f"{n} / {ref}: geometric mean {statistics.geometric_mean(r):.2f}, min {min(r):.2f}, max {max(r):.2f} "
              f"({sum(x < 1 for x in r)} of {len(r)} rows faster than {ref})")
print("variants: " + "; ".join(f"{n}: {label.get((shapes[0], 'nchw', n), '?')}" for n in names))
bad = [k for k, e in err.items() if not e <= 1e-6]
if bad:
    print("ERROR above float32 rounding (1e-6) for: " + ", ".join(f"{s} {n}" for s, n in bad))
    sys.exit(1)
PY
