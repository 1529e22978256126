#!/usr/bin/python3
"""Golden safetensors files for the `wtconv run` end-to-end tests, made by the
paper's PyTorch module (tools/reference_module.py).

    /usr/bin/python3 tools/make_safetensors_golden.py [--out tests/golden_safetensors]

Each case writes <case>.weights.safetensors (a state dict, as PyTorch users
export it), <case>.input.safetensors (tensor `input`) and
<case>.expected.safetensors (tensor `output`, the module's float32 forward).
Parameters are random non-zero values of both signs (the filters stay as the
module made them). Cases stored in F16 / BF16 / F64 run the module on the
values after that rounding, so `expected` is what the float32 layer gives on
what the file holds. Fixed seeds: rerunning reproduces the files. The
arguments each case needs are in tests/golden_safetensors/README.md.
"""

import argparse
import os
import sys
import zlib

import torch

from reference_module import WTConv2d  # tools/ is on sys.path: the script's folder
from safetensors_io import save_file

BASE_SEED = 20240708


def random_signed(gen, shape, lo=0.2, hi=1.5):
    mag = lo + (hi - lo) * torch.rand(shape, generator=gen)
    return mag * torch.where(torch.rand(shape, generator=gen) < 0.5, -1.0, 1.0)


def make_layer(gen, c, k, levels, wavelet, stride=1, bias=True):
    torch.manual_seed(BASE_SEED)
    m = WTConv2d(c, c, kernel_size=k, stride=stride, bias=bias, wt_levels=levels, wt_type=wavelet).eval()
    with torch.no_grad():
        for key, p in m.named_parameters():
            if key not in ("wt_filter", "iwt_filter"):
                p.copy_(random_signed(gen, p.shape))
    return m


def rounded(m, dtype, filters=True):
    """The module with its parameters rounded through `dtype`, as a file in that dtype holds them
    (the filters too, unless the file leaves them out)."""
    with torch.no_grad():
        for key, p in m.named_parameters():
            if filters or key not in ("wt_filter", "iwt_filter"):
                p.copy_(p.to(dtype).to(torch.float32))
    return m


def case_layer(gen):
    """One float32 layer with its filters: C=4, k=5, 2 levels, db1, a batch of 2 on 13 x 11."""
    m = make_layer(gen, 4, 5, 2, "db1")
    x = torch.rand((2, 4, 13, 11), generator=gen) * 2 - 1
    with torch.no_grad():
        y = m(x)
    return m.state_dict(), {"input": x}, y


def case_checkpoint(gen):
    """A checkpoint-like F16 file: two WTConv layers among other tensors (an I64 one too); the
    second layer (sym2, k=3, 3 levels, C=6, stride 2) runs on a BF16 input."""
    prefixes = ["stages.0.blocks.0.conv_dw.", "stages.1.blocks.10.conv_dw."]
    first = rounded(make_layer(gen, 4, 5, 1, "db1"), torch.float16)
    second = rounded(make_layer(gen, 6, 3, 3, "sym2", stride=2), torch.float16)
    state = {}
    for prefix, m in zip(prefixes, (first, second)):
        for key, t in m.state_dict().items():
            state[prefix + key] = t.to(torch.float16)
    state["stem.0.weight"] = random_signed(gen, (4, 3, 4, 4)).to(torch.float16)
    state["stages.0.blocks.0.norm.weight"] = random_signed(gen, (4,)).to(torch.float16)
    state["stages.1.downsample.1.num_batches_tracked"] = torch.tensor(7, dtype=torch.int64)
    x = (torch.rand((1, 6, 17, 14), generator=gen) * 2 - 1).to(torch.bfloat16)
    with torch.no_grad():
        y = second(x.to(torch.float32))
    return state, {"input": x}, y


def case_nofilters(gen):
    """BF16 weights without wt_filter / iwt_filter (run needs --wavelet db2), no bias, an F64 input."""
    m = rounded(make_layer(gen, 3, 3, 2, "db2", bias=False), torch.bfloat16, filters=False)
    state = {k: t.to(torch.bfloat16) for k, t in m.state_dict().items() if k not in ("wt_filter", "iwt_filter")}
    x = (torch.rand((1, 3, 10, 9), generator=gen) * 2 - 1).to(torch.float64)
    with torch.no_grad():
        y = m(x.to(torch.float32))
    return state, {"input": x}, y


CASES = {"layer_db1_k5_L2": case_layer, "checkpoint_f16": case_checkpoint, "nofilters_bf16_db2": case_nofilters}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "golden_safetensors"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    for name, make in CASES.items():
        gen = torch.Generator().manual_seed(BASE_SEED + zlib.crc32(name.encode()))
        state, inputs, y = make(gen)
        assert torch.isfinite(y).all(), name
        save_file(state, os.path.join(args.out, name + ".weights.safetensors"))
        save_file(inputs, os.path.join(args.out, name + ".input.safetensors"))
        save_file({"output": y.contiguous()}, os.path.join(args.out, name + ".expected.safetensors"))
        print(f"{name:24s} output {list(y.shape)} max|output| {y.abs().max().item():.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
