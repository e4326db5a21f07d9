#!/usr/bin/env python3
"""Convert a PyTorch checkpoint (.pth) into a safetensors file for r2plus1d.

Also importable: save_safetensors() and load_safetensors() write and read the
safetensors layout with torch alone (the `safetensors` package is not needed):

    [8 bytes: N, little-endian u64][N bytes: JSON header, space-padded][data]

The header maps each tensor name to {"dtype", "shape", "data_offsets"} (offsets
relative to the start of the data section), in insertion order, plus an optional
"__metadata__" object of string -> string. Data is contiguous little-endian.

CLI (installed as r2plus1d-convert):
    convert_checkpoint.py INPUT.pth OUTPUT.safetensors
        [--prefix-strip P] [--dtype f32|f16|bf16|keep] [--overwrite] [--version]
"""

import argparse
import collections
import ctypes
import json
import os
import re
import struct
import sys

import torch

# r2plus1d's version: written in here when installed as r2plus1d-convert; in a
# source tree, read from include/r2plus1d/version.hpp, where it is kept.
_VERSION = "@R2PLUS1D_VERSION@"


def version():
    """r2plus1d's version, "MAJOR.MINOR.PATCH"."""
    if not _VERSION.startswith("@"):
        return _VERSION
    header = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "include", "r2plus1d", "version.hpp")
    with open(header) as f:
        parts = dict(re.findall(r"^#define R2PLUS1D_VERSION_(MAJOR|MINOR|PATCH) (\d+)$", f.read(), re.M))
    return "%s.%s.%s" % (parts["MAJOR"], parts["MINOR"], parts["PATCH"])


# safetensors dtype names, in the order r2plus1d's DType lists them.
_DTYPE_NAMES = collections.OrderedDict([
    (torch.float64, "F64"),
    (torch.float32, "F32"),
    (torch.float16, "F16"),
    (torch.bfloat16, "BF16"),
    (torch.int64, "I64"),
    (torch.int32, "I32"),
    (torch.int16, "I16"),
    (torch.int8, "I8"),
    (torch.uint8, "U8"),
    (torch.bool, "BOOL"),
])
_DTYPES_BY_NAME = {name: dt for dt, name in _DTYPE_NAMES.items()}
_ITEM_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}

# Largest header the C++ reader accepts (a guard against absurd lengths).
MAX_HEADER_BYTES = 100_000_000


class ConvertError(Exception):
    """A problem with the user's input: reported as one line, exit status 1."""


def _tensor_bytes(t):
    """The bytes of a contiguous CPU tensor, in memory (little-endian) order."""
    n = t.numel() * t.element_size()
    return ctypes.string_at(t.data_ptr(), n) if n > 0 else b""


def save_safetensors(tensors, path, metadata=None):
    """Write `tensors` (name -> torch.Tensor, kept in insertion order) to `path`."""
    if sys.byteorder != "little":
        raise ConvertError("save_safetensors: only little-endian hosts are supported")
    header = collections.OrderedDict()
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise ConvertError(f"save_safetensors: metadata must map str to str, got {k!r}: {v!r}")
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name, t in tensors.items():
        if not isinstance(name, str):
            raise ConvertError(f"save_safetensors: tensor names must be str, got {name!r}")
        if name == "__metadata__":
            raise ConvertError("save_safetensors: '__metadata__' is reserved and cannot name a tensor")
        if not isinstance(t, torch.Tensor):
            raise ConvertError(f"save_safetensors: '{name}' is not a tensor ({type(t).__name__})")
        if t.dtype not in _DTYPE_NAMES:
            raise ConvertError(f"save_safetensors: '{name}' has unsupported dtype {t.dtype}")
        t = t.detach().cpu().contiguous()
        data = _tensor_bytes(t)
        header[name] = {
            "dtype": _DTYPE_NAMES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = str(path) + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for b in blobs:
                f.write(b)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_safetensors(path):
    """Read a safetensors file into an OrderedDict name -> torch.Tensor (header order).

    The file's metadata, if any, is attached as the attribute `metadata` of the result."""
    with open(path, "rb") as f:
        raw = f.read()
    where = f"load_safetensors: '{path}'"
    if len(raw) < 8:
        raise ConvertError(f"{where}: file is {len(raw)} bytes, too short for the 8-byte header length")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > MAX_HEADER_BYTES or 8 + n > len(raw):
        raise ConvertError(f"{where}: header length {n} exceeds file size {len(raw)}")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"), object_pairs_hook=collections.OrderedDict)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConvertError(f"{where}: header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise ConvertError(f"{where}: header is not a JSON object")
    data = memoryview(raw)[8 + n:]
    out = collections.OrderedDict()
    metadata = header.pop("__metadata__", None) or {}
    for name, e in header.items():
        try:
            dtype = _DTYPES_BY_NAME[e["dtype"]]
            shape = [int(s) for s in e["shape"]]
            begin, end = (int(x) for x in e["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ConvertError(f"{where}: malformed entry for '{name}': {e!r}") from None
        numel = 1
        for s in shape:
            numel *= s
        if begin > end or end > len(data) or end - begin != numel * _ITEM_SIZES[e["dtype"]]:
            raise ConvertError(f"{where}: '{name}' has data_offsets [{begin}, {end}] that do not fit "
                               f"shape {shape} of {e['dtype']} in {len(data)} data bytes")
        if numel == 0:
            out[name] = torch.empty(shape, dtype=dtype)
        else:
            buf = bytearray(data[begin:end])
            out[name] = torch.frombuffer(buf, dtype=torch.uint8).view(dtype).reshape(shape).clone()
    spans = sorted((e["data_offsets"][0], e["data_offsets"][1], k) for k, e in header.items()
                   if e["data_offsets"][1] > e["data_offsets"][0])
    for (_, end_a, a), (begin_b, _, b) in zip(spans, spans[1:]):
        if begin_b < end_a:
            raise ConvertError(f"{where}: '{a}' and '{b}' overlap")
    out.metadata = dict(metadata)
    return out


def _as_state_dict(obj, path):
    """The state dict inside whatever torch.load returned."""
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict):
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
        for key in ("state_dict", "model_state_dict", "model"):
            if key in obj:
                return _as_state_dict(obj[key], path)
        if not obj:
            raise ConvertError(f"'{path}' holds an empty dict")
        non_tensor = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
        raise ConvertError(f"'{path}' holds a dict that is not a state dict (no 'state_dict' or 'model' key; "
                           f"'{non_tensor[0]}' is a {type(obj[non_tensor[0]]).__name__}, not a tensor)")
    raise ConvertError(f"'{path}' holds a {type(obj).__name__}, expected a state dict, a module, "
                       "or a dict with a 'state_dict' or 'model' key")


def _strip_prefixes(sd, prefix):
    """Removes DataParallel's 'module.' prefixes, then `prefix` (keeping only the keys that had it)."""
    out = collections.OrderedDict()
    dropped = 0
    for k, v in sd.items():
        while k.startswith("module."):
            k = k[len("module."):]
        if prefix:
            if not k.startswith(prefix):
                dropped += 1
                continue
            k = k[len(prefix):]
        if k in out:
            raise ConvertError(f"two keys become '{k}' after stripping prefixes")
        out[k] = v
    if prefix and not out:
        raise ConvertError(f"no key starts with the prefix '{prefix}'")
    return out, dropped


def convert(input_path, output_path, prefix_strip="", dtype="keep", overwrite=False):
    """Converts a checkpoint; returns the one-line summary."""
    if not os.path.isfile(input_path):
        raise ConvertError(f"cannot read '{input_path}': no such file")
    if os.path.exists(output_path) and not overwrite:
        raise ConvertError(f"'{output_path}' exists; pass --overwrite to replace it")
    try:
        obj = torch.load(input_path, map_location="cpu")
    except Exception as e:  # pickle, zip and torch errors all mean "not a checkpoint"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConvertError(f"cannot load '{input_path}' as a torch checkpoint: {first}") from None
    sd = _as_state_dict(obj, input_path)
    for k, v in sd.items():
        if not isinstance(k, str):
            raise ConvertError(f"'{input_path}': state dict key {k!r} is not a string")
        if not isinstance(v, torch.Tensor):
            raise ConvertError(f"'{input_path}': '{k}' is a {type(v).__name__}, not a tensor")
    sd, dropped = _strip_prefixes(sd, prefix_strip)
    target = {"keep": None, "f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}[dtype]
    tensors = collections.OrderedDict()
    for k, v in sd.items():
        if target is not None and v.is_floating_point():
            v = v.to(target)
        tensors[k] = v
    try:
        save_safetensors(tensors, output_path, metadata={"format": "pt"})
    except OSError as e:
        raise ConvertError(f"cannot write '{output_path}': {e.strerror or e}") from None
    values = sum(v.numel() for v in tensors.values())  # parameters and buffers alike
    nbytes = sum(v.numel() * v.element_size() for v in tensors.values())
    summary = f"wrote '{output_path}': {len(tensors)} tensors, {values} values, {nbytes} bytes"
    if dropped:
        summary += f" ({dropped} keys without prefix '{prefix_strip}' dropped)"
    return summary


def main(argv=None):
    p = argparse.ArgumentParser(description="Convert a PyTorch checkpoint to safetensors for r2plus1d.")
    p.add_argument("input", help="a saved state_dict, a saved module, or a dict with a 'state_dict'/'model' key")
    p.add_argument("output", help="the .safetensors file to write")
    p.add_argument("--prefix-strip", default="", metavar="P",
                   help="keep only keys starting with P, without it (after removing 'module.')")
    p.add_argument("--dtype", choices=["f32", "f16", "bf16", "keep"], default="keep",
                   help="convert floating-point tensors to this type (default: keep)")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--version", action="version", version="%(prog)s " + version())
    args = p.parse_args(argv)
    try:
        print(convert(args.input, args.output, args.prefix_strip, args.dtype, args.overwrite))
    except (ConvertError, OSError) as e:
        print(f"convert_checkpoint: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
