#!/usr/bin/env python3
"""Times the PyTorch reference WTConv2d module and PyTorch's own depthwise
5x5 conv on a CUDA GPU, on the shapes of bench/cuda/wtconv_cuda_bench.cpp.

    python3 bench/pytorch_cuda_bench.py [--json out.json] [--min-seconds 0.2] [--shapes 0,4]

Rows per shape (float32, torch.no_grad, eval, allow_tf32 = False everywhere,
cudnn.benchmark = True, like cudnnFind in the C++ benchmark):
  ref          the reference module (tools/reference_module.py), eager, NCHW
  ref_graph    the same, replayed from CUDA graphs (one per rotation set)
  conv5        F.conv2d(x, w, padding=2, groups=C), NCHW (fp32 NCHW runs
               PyTorch's own depthwise kernel, not cuDNN: docs/GPU-NOTES.md 2)
  conv5_cl     the same on a channels_last tensor (cuDNN), logged
  copy         y.copy_(x) of S bytes, the 100 %-bandwidth anchor
Timing: CUDA events around one call per rotation set (sets sized so a pass
touches > 3x the L2), after warm-up; median per call in microseconds.
GB/s counts ideal bytes, 2S (x read once, y written once).

Prints one JSON line (also written to --json) and a table last. Without
PyTorch or without a CUDA device it says so and exits 0. pywt is not needed:
without it, the db1 filters (+-1/sqrt(2)) are supplied here.
"""

import argparse
import datetime
import json
import math
import os
import statistics
import sys
import time
import types

# Same shapes as bench/cuda/wtconv_cuda_bench.cpp: (N, C, H, W, levels), k = 5, db1.
SHAPES = [(32, 96, 56, 56, 5), (32, 192, 28, 28, 4), (32, 384, 14, 14, 3), (32, 768, 7, 7, 2),
          (1, 64, 1024, 1024, 3)]
KERNEL = 5


def install_db1_pywt():
    """Makes `import pywt` work without PyWavelets for db1 / haar only (the
    GPU machine has no pywt). Returns True if the stand-in was installed."""
    try:
        import pywt  # noqa: F401
        import pywt.data  # noqa: F401
        return False
    except ImportError:
        pass
    r = 1 / math.sqrt(2)  # PyWavelets' db1: dec_lo (r, r), dec_hi (-r, r), rec_lo (r, r), rec_hi (r, -r)

    class Wavelet:
        def __init__(self, name):
            if name not in ("db1", "haar"):
                raise ValueError(f"pywt stand-in: only db1/haar are available without PyWavelets, not {name!r}")
            self.name = name
            self.dec_lo, self.dec_hi = [r, r], [-r, r]
            self.rec_lo, self.rec_hi = [r, r], [r, -r]

    pywt = types.ModuleType("pywt")
    pywt.Wavelet = Wavelet
    pywt.data = types.ModuleType("pywt.data")
    sys.modules["pywt"] = pywt
    sys.modules["pywt.data"] = pywt.data
    return True


def shape_name(n, c, h, w, levels):
    return f"{n}x{c}x{h}x{w}/L{levels}"


def time_calls(torch, fn, inputs, min_seconds, min_samples=10, max_samples=2000):
    """Median and min per call (us) of fn(x) over `inputs`, one call each per sample."""
    for _ in range(2):
        for x in inputs:
            fn(x)
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    samples = []
    deadline = time.perf_counter() + min_seconds
    while len(samples) < max_samples and (len(samples) < min_samples or time.perf_counter() < deadline):
        start.record()
        for x in inputs:
            fn(x)
        stop.record()
        stop.synchronize()
        samples.append(start.elapsed_time(stop) * 1e3 / len(inputs))
    return statistics.median(samples), min(samples), len(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", help="also write the JSON result here")
    parser.add_argument("--min-seconds", type=float, default=0.3, help="timing per row (default 0.3)")
    parser.add_argument("--shapes", help="comma-separated indices into the shape list (default: all)")
    parser.add_argument("--no-graph", action="store_true", help="skip the CUDA-graph replay of the reference")
    args = parser.parse_args()

    try:
        import torch
        import torch.nn.functional as F
    except ImportError as e:
        print(f"pytorch_cuda_bench: skipped: PyTorch is not importable ({e})")
        return 0
    if not torch.cuda.is_available():
        print(f"pytorch_cuda_bench: skipped: no CUDA device (torch {torch.__version__}, "
              f"built for CUDA {torch.version.cuda})")
        return 0

    stand_in = install_db1_pywt()
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
    from reference_module import WTConv2d  # noqa: E402

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    props = torch.cuda.get_device_properties(0)
    l2 = getattr(props, "L2_cache_size", 0) or 60 * 1000 * 1000
    info = {
        "device": props.name, "sms": props.multi_processor_count, "l2_bytes": l2,
        "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
        "allow_tf32": False, "cudnn_benchmark": True, "pywt": "db1 stand-in" if stand_in else "PyWavelets",
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    print(f"{props.name}, {props.multi_processor_count} SMs, L2 {l2 / 1e6:.1f} MB; torch {torch.__version__}, "
          f"CUDA {torch.version.cuda}, cuDNN {info['cudnn']}; pywt: {info['pywt']}; {info['date_utc']}", flush=True)

    shapes = SHAPES if not args.shapes else [SHAPES[int(i)] for i in args.shapes.split(",")]
    rows = []
    with torch.no_grad():
        for n, c, h, w, levels in shapes:
            name = shape_name(n, c, h, w, levels)
            s_bytes = 4 * n * c * h * w
            sets = max(1, math.ceil(3 * l2 / (2 * s_bytes)))
            torch.manual_seed(0)
            module = WTConv2d(c, c, kernel_size=KERNEL, wt_levels=levels, wt_type="db1").cuda().eval()
            xs = [torch.randn(n, c, h, w, device="cuda") for _ in range(sets)]
            xs_cl = [x.contiguous(memory_format=torch.channels_last) for x in xs]
            ys = [torch.empty_like(x) for x in xs]
            weight = torch.randn(c, 1, KERNEL, KERNEL, device="cuda")
            index = {id(x): i for i, x in enumerate(xs)}

            def row(impl, fn, inputs, note=""):
                try:
                    med, best, samples = time_calls(torch, fn, inputs, args.min_seconds)
                except Exception as e:  # noqa: BLE001  (report and go on: one row must not end the run)
                    print(f"{name} {impl}: failed: {e}", flush=True)
                    rows.append({"shape": name, "impl": impl, "error": str(e)})
                    return
                rows.append({"shape": name, "impl": impl, "us_median": med, "us_min": best, "samples": samples,
                             "calls_per_sample": len(inputs), "sets": sets, "bytes_ideal": 2 * s_bytes,
                             "gbps": 2 * s_bytes / (med * 1e3), "note": note})
                print(f"{name} {impl}: {med:.1f} us (min {best:.1f}, {samples} samples x {len(inputs)} calls) {note}",
                      flush=True)

            row("copy", lambda x: ys[index[id(x)]].copy_(x), xs)
            row("conv5", lambda x: F.conv2d(x, weight, padding=KERNEL // 2, groups=c), xs)
            row("conv5_cl", lambda x: F.conv2d(x, weight, padding=KERNEL // 2, groups=c), xs_cl,
                "channels_last (cuDNN)")
            row("ref", module, xs, "eager")
            if not args.no_graph:
                try:
                    graphs = []
                    side = torch.cuda.Stream()
                    side.wait_stream(torch.cuda.current_stream())
                    with torch.cuda.stream(side):  # warm-up on a side stream, as torch.cuda.graphs asks
                        for x in xs:
                            module(x)
                    torch.cuda.current_stream().wait_stream(side)
                    for x in xs:
                        g = torch.cuda.CUDAGraph()
                        with torch.cuda.graph(g):
                            module(x)
                        graphs.append(g)
                    row("ref_graph", lambda g: g.replay(), graphs, "CUDA graph replay")
                    del graphs
                except Exception as e:  # noqa: BLE001
                    print(f"{name} ref_graph: failed: {e}", flush=True)
                    rows.append({"shape": name, "impl": "ref_graph", "error": str(e)})
            del xs, xs_cl, ys, module
            torch.cuda.empty_cache()

    result = {"info": info, "rows": rows}
    line = json.dumps(result)
    print(line)
    if args.json:
        with open(args.json, "w") as f:
            f.write(line + "\n")

    def us(shape, impl):
        for r in rows:
            if r["shape"] == shape and r["impl"] == impl and "us_median" in r:
                return r["us_median"]
        return float("nan")

    print(f"\n== pytorch_cuda_bench summary: {props.name}; median us per call; GB/s on ideal bytes 2S; "
          f"%copy against torch's copy_")
    print(f"{'shape':<20} {'copy':>8} {'conv5':>8} {'conv5_cl':>8} {'ref':>9} {'ref_graph':>9} {'ref GB/s':>8} "
          f"{'%copy':>6} {'ref/conv5':>9}")
    for n, c, h, w, levels in shapes:
        name = shape_name(n, c, h, w, levels)
        s_bytes = 4 * n * c * h * w
        copy, conv5, conv5_cl, ref, ref_graph = (us(name, i) for i in ("copy", "conv5", "conv5_cl", "ref", "ref_graph"))
        best_ref = min(ref, ref_graph) if not math.isnan(ref_graph) else ref
        gbps = 2 * s_bytes / (best_ref * 1e3)
        pct = 100 * copy / best_ref
        print(f"{name:<20} {copy:>8.1f} {conv5:>8.1f} {conv5_cl:>8.1f} {ref:>9.1f} {ref_graph:>9.1f} {gbps:>8.0f} "
              f"{pct:>5.1f}% {best_ref / conv5:>9.2f}")
    print("(ref GB/s, %copy and ref/conv5 use the faster of eager and graph replay)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
