"""Writes files for the io tests to read: safetensors written by
tools/convert_checkpoint.py (every dtype, known values), .npy files written by
numpy (every dtype numpy has, format versions 1.0/2.0/3.0, plus a Fortran-order
and a big-endian file), and a checkpoint of a small nn.Sequential converted by
the converter's command line. The C++ tests read these, compare values, and
rewrite them to check that their writers produce the same bytes.

Also checks the converter's command line behaviour (refusing to overwrite,
failing on bad input) and that load_safetensors reads back what it wrote."""

import argparse
import collections
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(HERE, "..", "..", "tools")
sys.path.insert(0, TOOLS)

from convert_checkpoint import load_safetensors, save_safetensors  # noqa: E402

CONVERTER = os.path.join(TOOLS, "convert_checkpoint.py")


def dtype_tensors():
    """One (2, 3) tensor per dtype with values that probe each type's range."""
    t = collections.OrderedDict()
    t["f64"] = torch.tensor([[-1.25, 0.1, 1e300], [-0.0, 2.0 ** -1074, 3.0]], dtype=torch.float64)
    t["f32"] = torch.tensor([[-1.25, 0.1, 3e38], [-0.0, 2.0 ** -149, 3.0]], dtype=torch.float32)
    t["f16"] = torch.tensor([[1 / 3, 65504.0, -(2.0 ** -24)], [-0.0, float("inf"), 1e-3]]).half()
    t["f16_as_f32"] = t["f16"].float()
    t["bf16"] = torch.tensor([[1 / 3, 3e38, -1e-40], [-0.0, float("-inf"), 1e-3]]).bfloat16()
    t["bf16_as_f32"] = t["bf16"].float()
    t["i64"] = torch.tensor([[-(2 ** 62), -1, 0], [1, 2 ** 40, 2 ** 62]], dtype=torch.int64)
    t["i32"] = torch.tensor([[-(2 ** 31), -1, 0], [1, 7, 2 ** 31 - 1]], dtype=torch.int32)
    t["i16"] = torch.tensor([[-32768, -1, 0], [1, 7, 32767]], dtype=torch.int16)
    t["i8"] = torch.tensor([[-128, -1, 0], [1, 7, 127]], dtype=torch.int8)
    t["u8"] = torch.tensor([[0, 1, 127], [128, 254, 255]], dtype=torch.uint8)
    t["bool"] = torch.tensor([[True, False, True], [True, False, False]])
    t["scalar"] = torch.tensor(3.5)
    t["empty"] = torch.zeros(0, 4)
    t["video"] = torch.arange(2 * 3 * 2 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2, 2) / 8
    return t


def npy_arrays():
    """numpy's counterparts of dtype_tensors() (numpy has no bfloat16)."""
    t = dtype_tensors()
    names = ["f64", "f32", "f16", "i64", "i32", "i16", "i8", "u8", "bool", "scalar", "empty", "video"]
    return collections.OrderedDict((n, t[n].numpy()) for n in names)


def write_npy_versioned(path, arr, version):
    with open(path, "wb") as f:
        np.lib.format.write_array(f, arr, version=version)


def run_cli(*args):
    return subprocess.run([sys.executable, CONVERTER, *args], capture_output=True, text=True)


def convert_model(out):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv3d(3, 4, (1, 3, 3)), torch.nn.BatchNorm3d(4), torch.nn.ReLU())
    with torch.no_grad():
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
        model[1].num_batches_tracked.fill_(17)
    sd = model.state_dict()
    # A training checkpoint of a DataParallel model: a dict with 'state_dict' and 'module.' keys.
    ckpt = {"epoch": 3, "state_dict": collections.OrderedDict(("module." + k, v) for k, v in sd.items())}
    pth = os.path.join(out, "io_model.pth")
    torch.save(ckpt, pth)
    save_safetensors(sd, os.path.join(out, "io_model_expected.safetensors"))
    for name, extra in (("io_model.safetensors", []), ("io_model_f16.safetensors", ["--dtype", "f16"]),
                        ("io_model_bn.safetensors", ["--prefix-strip", "1."])):
        r = run_cli(pth, os.path.join(out, name), "--overwrite", *extra)
        if r.returncode != 0 or "tensors" not in r.stdout:
            sys.exit(f"converter failed on {name}: {r.stdout}{r.stderr}")
        # The summary counts every tensor's values, the BatchNorm buffers included
        # (conv 108 + 4, BatchNorm 4 x 4 + 1; after the prefix strip, the BatchNorm's alone).
        want = "5 tensors, 17 values" if "--prefix-strip" in extra else "7 tensors, 129 values"
        if want not in r.stdout:
            sys.exit(f"converter summary on {name} is not '{want}': {r.stdout}")
    # A whole pickled module converts too.
    torch.save(model, os.path.join(out, "io_model_module.pth"))
    r = run_cli(os.path.join(out, "io_model_module.pth"), os.path.join(out, "io_model_module.safetensors"),
                "--overwrite")
    if r.returncode != 0:
        sys.exit(f"converter failed on a pickled module: {r.stderr}")
    # Refuses to overwrite without --overwrite, and fails cleanly on a non-checkpoint.
    r = run_cli(pth, os.path.join(out, "io_model.safetensors"))
    if r.returncode == 0 or "--overwrite" not in r.stderr:
        sys.exit("converter overwrote an existing file without --overwrite")
    r = run_cli(os.path.join(out, "io_model_expected.safetensors"), os.path.join(out, "io_junk.safetensors"),
                "--overwrite")
    if r.returncode == 0 or len(r.stderr.strip().splitlines()) != 1:
        sys.exit(f"converter did not fail with one line on a non-checkpoint: {r.stderr}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)

    tensors = dtype_tensors()
    meta = collections.OrderedDict([("format", "pt"), ("note", "caf\u00e9 \"quoted\"")])
    path = os.path.join(out, "io_dtypes.safetensors")
    save_safetensors(tensors, path, metadata=meta)
    back = load_safetensors(path)
    if list(back) != list(tensors) or back.metadata != meta:
        sys.exit("load_safetensors changed the keys or metadata")
    for k, v in tensors.items():
        if back[k].dtype != v.dtype or not torch.equal(back[k], v):
            sys.exit(f"load_safetensors changed '{k}'")

    for name, arr in npy_arrays().items():
        np.save(os.path.join(out, f"io_npy_{name}.npy"), arr)
    f32 = npy_arrays()["f32"]
    write_npy_versioned(os.path.join(out, "io_npy_v2.npy"), f32, (2, 0))
    write_npy_versioned(os.path.join(out, "io_npy_v3.npy"), f32, (3, 0))
    np.save(os.path.join(out, "io_npy_fortran.npy"), np.asfortranarray(f32))
    np.save(os.path.join(out, "io_npy_bigendian.npy"), f32.astype(">f4"))

    convert_model(out)


if __name__ == "__main__":
    main()
