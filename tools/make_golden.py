#!/usr/bin/python3
"""Golden reference files for WTConv2d, made by the paper's own PyTorch module.

Run with Debian's system python, which has torch and pywt:

    /usr/bin/python3 tools/make_golden.py [--out tests/golden]

For every case below it builds the reference WTConv2d module, replaces every
learned parameter with random non-zero values of varied sign and magnitude
(the wavelet filters stay as the module made them), runs a float32 CPU forward
on a random input and writes one `<case>.wtgold` file: the module's
state_dict() (keys with the case's prefix), the input, the output and a few
`meta.` tensors. The format is described in tests/golden/README.md and read by
tests/golden_file.h. The seed is fixed and each case draws from its own
generator (seeded from the case name), so rerunning the script reproduces the
committed files, and adding a case leaves the others unchanged.
"""

import argparse
import os
import struct
import sys
import warnings
import zlib

import pywt
import torch

from reference_module import WTConv2d  # noqa: E402  (tools/ is on sys.path: the script's folder)


MAGIC = b"WTGOLD1\n"
BASE_SEED = 20240708  # the paper's arXiv date; fixed so the files are reproducible
PREFIX = "stages.0.blocks.1.conv_dw."


def case(name, wavelet="db1", k=5, levels=1, h=8, w=8, n=1, c=3, stride=1, bias=True, prefix=""):
    return dict(name=name, wavelet=wavelet, k=k, levels=levels, h=h, w=w, n=n, c=c, stride=stride,
                bias=bias, prefix=prefix)


CASES = (
    # db1 (Haar), k = 5, levels 1..5 on an odd, non-square plane.
    [case(f"db1_k5_L{L}_37x41", levels=L, h=37, w=41) for L in range(1, 6)]
    + [
        case("haar_k3_L2_32x32_n2c4", wavelet="haar", k=3, levels=2, h=32, w=32, n=2, c=4),
        case("db1_k7_L3_15x9", k=7, levels=3, h=15, w=9),
        # Even and tiny kernels.
        case("db1_k4_L2_13x11", k=4, levels=2, h=13, w=11),
        case("db1_k2_L1_6x7", k=2, levels=1, h=6, w=7),
        case("db1_k1_L1_6x7", k=1, levels=1, h=6, w=7),
        case("sym2_k6_L2_14x17", wavelet="sym2", k=6, levels=2, h=14, w=17),
        # Longer wavelets (asymmetric ones sit off-centre).
        case("db3_k5_L2_20x23", wavelet="db3", levels=2, h=20, w=23),
        case("sym4_k5_L3_27x30", wavelet="sym4", levels=3, h=27, w=30),
        case("coif3_k3_L2_25x25", wavelet="coif3", k=3, levels=2, h=25, w=25),
        case("bior2.2_k5_L2_17x19", wavelet="bior2.2", levels=2, h=17, w=19),
        case("rbio1.3_k3_L3_16x21", wavelet="rbio1.3", k=3, levels=3, h=16, w=21),
        case("db6_k5_L2_24x20", wavelet="db6", levels=2, h=24, w=20),
        case("coif17_k3_L1_9x10_c2", wavelet="coif17", k=3, levels=1, h=9, w=10, c=2),
        case("bior6.8_k5_L2_12x12", wavelet="bior6.8", levels=2, h=12, w=12),
        case("dmey_k3_L1_10x10_c1", wavelet="dmey", k=3, levels=1, h=10, w=10, c=1),
        # Levels beyond 5: deep levels are 1 x 1.
        case("db1_k5_L6_33x29", levels=6, h=33, w=29),
        case("db1_k5_L8_33x29", levels=8, h=33, w=29),
        case("db1_k5_L10_33x29", levels=10, h=33, w=29),
        case("sym3_k5_L7_20x20", wavelet="sym3", levels=7, h=20, w=20),
        # Strides (the module's AvgPool2d(1, stride)).
        case("db1_k5_L2_19x22_s2", levels=2, h=19, w=22, stride=2),
        case("db2_k3_L2_31x17_s3", wavelet="db2", k=3, levels=2, h=31, w=17, stride=3),
        case("db1_k3_L2_3x10_s4", k=3, levels=2, h=3, w=10, stride=4),
        case("db2_k5_L1_9x2_s4", wavelet="db2", levels=1, h=9, w=2, stride=4),
        # Tiny planes.
        case("db1_k3_L3_1x1", k=3, levels=3, h=1, w=1),
        case("sym2_k3_L3_1x1", wavelet="sym2", k=3, levels=3, h=1, w=1),
        case("db1_k5_L2_1x5", levels=2, h=1, w=5),
        case("db2_k3_L2_5x1", wavelet="db2", k=3, levels=2, h=5, w=1),
        case("db1_k3_L4_2x2", k=3, levels=4, h=2, w=2),
        # No bias, a WTConvNeXt key prefix, a batch.
        case("db1_k5_L2_12x13_nobias", levels=2, h=12, w=13, bias=False),
        case("db1_k5_L2_11x10_prefixed", levels=2, h=11, w=10, prefix=PREFIX),
        case("db2_k3_L2_10x9_nobias_prefixed", wavelet="db2", k=3, levels=2, h=10, w=9, bias=False,
             prefix=PREFIX),
        case("db1_k5_L2_9x12_n3", levels=2, h=9, w=12, n=3),
        # WTConvNeXt-like: C = 8, k = 5, db1, a stage-3 plane (14) and a stage-4 plane (7).
        case("convnext_db1_k5_L3_14x14_c8", levels=3, h=14, w=14, c=8, prefix=PREFIX),
        case("convnext_db1_k5_L2_7x7_c8", levels=2, h=7, w=7, c=8, prefix=PREFIX),
    ]
)


def random_signed(gen, shape, lo=0.2, hi=1.5):
    """Uniform in [-hi, -lo] U [lo, hi]: non-zero, both signs, varied scale."""
    mag = lo + (hi - lo) * torch.rand(shape, generator=gen, dtype=torch.float32)
    sign = torch.where(torch.rand(shape, generator=gen) < 0.5, -1.0, 1.0).to(torch.float32)
    return mag * sign


def make_case(cs):
    gen = torch.Generator().manual_seed(BASE_SEED + zlib.crc32(cs["name"].encode()))
    torch.manual_seed(BASE_SEED)  # the module's default init (overwritten below)
    m = WTConv2d(cs["c"], cs["c"], kernel_size=cs["k"], stride=cs["stride"], bias=cs["bias"],
                 wt_levels=cs["levels"], wt_type=cs["wavelet"])
    m.eval()
    with torch.no_grad():
        for key, p in m.named_parameters():
            if key in ("wt_filter", "iwt_filter"):
                continue
            p.copy_(random_signed(gen, p.shape))
        x = torch.rand((cs["n"], cs["c"], cs["h"], cs["w"]), generator=gen, dtype=torch.float32) * 2.0 - 1.0
        y = m(x)
    ho = (cs["h"] - 1) // cs["stride"] + 1
    wo = (cs["w"] - 1) // cs["stride"] + 1
    assert tuple(y.shape) == (cs["n"], cs["c"], ho, wo), (cs["name"], tuple(y.shape))
    assert torch.isfinite(y).all(), cs["name"]

    tensors = []
    for key, t in m.state_dict().items():
        tensors.append((cs["prefix"] + key, t))
    tensors.append(("input", x))
    tensors.append(("output", y))
    tensors.append(("meta.stride", torch.tensor([float(cs["stride"])])))
    tensors.append(("meta.levels", torch.tensor([float(cs["levels"])])))
    tensors.append(("meta.kernel_size", torch.tensor([float(cs["k"])])))
    tensors.append(("meta.prefix:" + cs["prefix"], torch.zeros(0)))
    tensors.append(("meta.wavelet:" + cs["wavelet"], torch.zeros(0)))
    return tensors, y


def write_golden(path, tensors):
    out = bytearray(MAGIC)
    out += struct.pack("<I", len(tensors))
    for name, t in tensors:
        t = t.detach().to(torch.float32).contiguous().cpu()
        nb = name.encode("utf-8")
        out += struct.pack("<I", len(nb)) + nb
        out += struct.pack("<I", t.dim())
        out += struct.pack(f"<{t.dim()}q", *t.shape)
        vals = t.reshape(-1).tolist()
        out += struct.pack(f"<{len(vals)}f", *vals)
    with open(path, "wb") as f:
        f.write(out)
    return len(out)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "golden"))
    ap.add_argument("--only", default=None, help="substring of the case names to make")
    args = ap.parse_args()
    torch.set_num_threads(1)
    # torch's note that even kernels with padding='same' pad a copy: expected here.
    warnings.filterwarnings("ignore", message="Using padding='same' with even kernel lengths")
    os.makedirs(args.out, exist_ok=True)
    names = [cs["name"] for cs in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    total = 0
    print(f"torch {torch.__version__}, pywt {pywt.__version__}")
    for cs in CASES:
        if args.only and args.only not in cs["name"]:
            continue
        tensors, y = make_case(cs)
        size = write_golden(os.path.join(args.out, cs["name"] + ".wtgold"), tensors)
        total += size
        print(f"{cs['name']:36s} out {list(y.shape)!s:18s} max|out| {y.abs().max().item():10.4f}  "
              f"{size / 1024:8.1f} KiB")
    print(f"total {total / 1024:.1f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
