#!/usr/bin/python3
"""Times the PyTorch reference WTConv2d module (what users run today) on the
CPU benchmark's shapes, so the tables can show our speed-up over it.

    /usr/bin/python3 bench/pytorch_reference_bench.py [--threads 2] [--repeats 5]

Needs Debian's python3-torch and python3-pywt. Prints one line per shape:
median ms of a forward (torch.no_grad, float32), NCHW and channels-last input.
"""

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from reference_module import WTConv2d  # noqa: E402

# Same shapes as bench/wtconv_bench.cpp: (N, C, H, W, levels), k = 5, db1.
SHAPES = [(1, 96, 56, 56, 5), (1, 192, 28, 28, 4), (1, 384, 14, 14, 3), (1, 768, 7, 7, 2),
          (8, 96, 56, 56, 5), (8, 192, 28, 28, 4), (8, 384, 14, 14, 3), (8, 768, 7, 7, 2),
          (1, 64, 224, 224, 3), (1, 32, 512, 512, 4)]


def median_ms(module, x, repeats):
    with torch.no_grad():
        module(x)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            module(x)
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, median of {args.repeats}")
    print(f"{'shape (NxCxHxW/L)':<20} {'nchw ms':>10} {'channels_last ms':>17}")
    for n, c, h, w, levels in SHAPES:
        torch.manual_seed(0)
        module = WTConv2d(c, c, kernel_size=5, wt_levels=levels, wt_type="db1").eval()
        x = torch.randn(n, c, h, w)
        nchw = median_ms(module, x, args.repeats)
        last = median_ms(module, x.contiguous(memory_format=torch.channels_last), args.repeats)
        print(f"{f'{n}x{c}x{h}x{w}/L{levels}':<20} {nchw:>10.3f} {last:>17.3f}", flush=True)


if __name__ == "__main__":
    main()
