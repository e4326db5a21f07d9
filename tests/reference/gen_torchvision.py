"""Writes PyTorch references for torchvision's video ResNets (r2plus1d_18,
r3d_18, mc3_18, from Debian's torchvision): the state dict in torchvision's key
order, an input clip, and the class scores of the same weights in float32 and
float64 torch. Same layout as gen_models.py, files video_<case>.safetensors."""

import argparse
import os
import sys

import torch
import torchvision.models.video as tvv

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from gen_models import run_case  # noqa: E402

FACTORIES = {"r2plus1d_18": tvv.r2plus1d_18, "r3d_18": tvv.r3d_18, "mc3_18": tvv.mc3_18}


def build(kind, ctor):
    return FACTORIES[kind](num_classes=ctor["args"][0])


# (name, factory, classes, input shape, torch dtypes). Float64 torch runs its
# convs about ten times slower than float32: the full-size r3d_18 and mc3_18
# clips are checked in float only, their odd-sized clips in both.
CASES = [
    ("r2plus1d_18_16x112x112", "r2plus1d_18", 400, [1, 3, 16, 112, 112], ("f32", "f64")),
    ("r2plus1d_18_odd", "r2plus1d_18", 400, [2, 3, 6, 72, 90], ("f32", "f64")),
    ("r3d_18_16x112x112", "r3d_18", 400, [1, 3, 16, 112, 112], ("f32",)),
    ("r3d_18_odd", "r3d_18", 400, [2, 3, 5, 70, 86], ("f32", "f64")),
    ("mc3_18_16x112x112", "mc3_18", 400, [1, 3, 16, 112, 112], ("f32",)),
    ("mc3_18_odd", "mc3_18", 400, [2, 3, 7, 66, 94], ("f32", "f64")),
    ("r2plus1d_18_classes10_train", "r2plus1d_18", 10, [2, 3, 4, 32, 40], ("f32", "f64")),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", default=None, help="comma-separated case names")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    only = set(args.only.split(",")) if args.only else None
    for i, (name, kind, classes, shape, dtypes) in enumerate(CASES):
        if only and name not in only:
            continue
        mode = "train" if name.endswith("_train") else "eval"
        run_case(args.out, name, kind, {"args": [classes]}, shape, mode, seed=2000 + i, builder=build,
                 prefix="video_", dtypes=dtypes)
        print("wrote", name, flush=True)


if __name__ == "__main__":
    main()
