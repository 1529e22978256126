"""safetensors files from PyTorch without the safetensors package (Debian has
none): the same format as safetensors.torch's save_file / load_file, in a few
lines. Use whichever is installed; `wtconv` reads both.

    from safetensors_io import save_file, load_file   # tools/ on sys.path
    save_file(layer.state_dict(), "layer.safetensors")
    y = load_file("y.safetensors")["output"]
"""

import json
import struct

import numpy as np
import torch

_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
           torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
           torch.bool: "BOOL"}
_TORCH = {name: dtype for dtype, name in _DTYPES.items()}


def _raw(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: the same 2 bytes as int16
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def save_file(tensors, path, metadata=None):
    """Writes {name: tensor} as a safetensors file (data in name order, 8-byte aligned)."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        data = _raw(t)
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = dict(metadata)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def load_file(path):
    """Reads a safetensors file into {name: tensor}."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = _TORCH[info["dtype"]]
        view = torch.int16 if dtype == torch.bfloat16 else dtype
        np_dtype = torch.empty(0, dtype=view).numpy().dtype
        t = torch.from_numpy(np.frombuffer(raw[8 + n + begin:8 + n + end], dtype=np_dtype).copy())
        out[name] = (t.view(torch.bfloat16) if dtype == torch.bfloat16 else t).reshape(info["shape"])
    return out
