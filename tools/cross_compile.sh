#!/usr/bin/env bash
# tools/cross_compile.sh <halide-target[;more specific first;...;baseline]> [cmake -D... ...]
#
# Compiles every AOT pipeline (fused variants, stages, one Halide runtime) for
# another machine, from this one: e.g.
#   tools/cross_compile.sh arm-64-linux                        # NEON (any AArch64 Linux)
#   tools/cross_compile.sh "arm-64-linux-arm_dot_prod-arm_fp16;arm-64-linux"  # multi-target, dispatch at run time
#   tools/cross_compile.sh arm-64-osx                          # Apple silicon
# into <repo>/build-cross-<first target> (WTCONV_BUILD_DIR overrides), with
# the hand schedules unless -DWTCONV_CPU_SCHEDULER=<autoscheduler> is given
# (then -DWTCONV_AUTOSCHEDULER_PARALLELISM=<that machine's cores> too). The
# result is one static archive per pipeline (<build>/generators/*.a) plus
# wtconv_halide_runtime.a and the headers: what a build on that machine
# links. Only the AOT objects are built (WTCONV_AOT_ONLY, automatic for
# non-host targets): the library, tests and benchmarks need the target machine.
# Checks that every archive holds code for the target's architecture.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
targets="${1:-}"
if [ -z "$targets" ]; then
    echo "usage: $0 <halide-target[;...]> [cmake -D... ...]   (e.g. arm-64-linux, arm-64-osx)" >&2
    exit 2
fi
shift
first="${targets%%;*}"
export WTCONV_BUILD_DIR="${WTCONV_BUILD_DIR:-$root/build-cross-$first}"
# The CUDA variants are x86 + PTX whatever the CPU target: not part of a port.
build="$("$root/tools/configure.sh" -DWTCONV_CPU_TARGETS="$targets" -DWTCONV_CUDA=OFF "$@" | tail -n 1)"
export PATH="$root/.venv/bin:$PATH"
start=$SECONDS
cmake --build "$build" -j 2 --target wtconv_aot
seconds=$((SECONDS - start))

# Every member of every archive must be an object for the target's CPU
# (ELF e_machine, Mach-O cputype, COFF machine), read from the headers.
"$root/.venv/bin/python" - "$first" "$build"/generators/*.a <<'PY'
import struct, sys
first, archives = sys.argv[1], sys.argv[2:]
want = {"arm-64": ("ELF", 183, "MACHO", 0x0100000C), "x86-64": ("ELF", 62, "MACHO", 0x01000007),
        "arm-32": ("ELF", 40, "MACHO", 12)}[first[:6]]
def kind(blob):
    if blob[:4] == b"\x7fELF":
        return "ELF", struct.unpack_from("<H", blob, 18)[0]
    if blob[:4] in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe"):
        return "MACHO", struct.unpack_from("<I", blob, 4)[0]
    return "other", 0
bad = 0
for path in archives:
    data = open(path, "rb").read()
    assert data[:8] == b"!<arch>\n", path
    pos, members = 8, 0
    while pos + 60 <= len(data):
        name, size = data[pos:pos + 16].decode().strip(), int(data[pos + 48:pos + 58].decode().strip())
        body = data[pos + 60:pos + 60 + size]
        if name.startswith("#1/"):  # BSD long name: the name leads the body
            n = int(name[3:]); body = body[n:]
        # "/" "/SYM64/" "//" and "__.SYMDEF": symbol and name tables; "/123": a GNU long name
        if name not in ("/", "//", "/SYM64/") and not name.startswith("__.SYMDEF"):
            k, m = kind(body)
            if (k, m) not in ((want[0], want[1]), (want[2], want[3])) and k != "other":
                print(f"[cross_compile] {path}: member {name} is {k} machine {m:#x}, not {first}", file=sys.stderr)
                bad += 1
            members += k != "other"
        pos += 60 + size + (size & 1)
    if members == 0:
        print(f"[cross_compile] {path}: no object inside", file=sys.stderr); bad += 1
sys.exit(1 if bad else 0)
PY
count=$(ls "$build"/generators/*.a | wc -l)
echo "[cross_compile] $count archives for $targets in $build/generators, every object for $first; built in ${seconds} s"
