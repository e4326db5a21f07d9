"""Writes PyTorch references for torchvision's video ResNets (r2plus1d_18,
r3d_18, mc3_18, from Debian's torchvision) and for the R(2+1)D-34 of the
Caffe2-trained IG-65M / Kinetics models, defined here on torchvision's
VideoResNet as their PyTorch ports define it: the state dict in torchvision's
key order, an input clip, and the class scores of the same weights in float32
and float64 torch. Same layout as gen_models.py, files video_<case>.safetensors."""

import argparse
import os
import sys

import torch
import torch.nn as nn
import torchvision.models.video as tvv
from torchvision.models.video.resnet import BasicBlock, Conv2Plus1D, R2Plus1dStem, VideoResNet

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from gen_models import run_case  # noqa: E402



def r2plus1d_34(num_classes):
    """R(2+1)D-34 as the Caffe2 models were trained: blocks (3, 4, 6, 3); conv2
    of each layer's first block with the midplanes of (planes, planes) rather
    than torchvision's (inplanes, planes); BatchNorm eps 1e-3, momentum 0.9."""
    m = VideoResNet(block=BasicBlock, conv_makers=[Conv2Plus1D] * 4, layers=[3, 4, 6, 3], stem=R2Plus1dStem,
                    num_classes=num_classes)
    for layer, planes in ((m.layer2, 128), (m.layer3, 256), (m.layer4, 512)):
        mid = planes * planes * 27 // (planes * 9 + 3 * planes)
        layer[0].conv2[0] = Conv2Plus1D(planes, planes, mid)
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm3d):
            mod.eps, mod.momentum = 1e-3, 0.9
    return m


FACTORIES = {"r2plus1d_18": tvv.r2plus1d_18, "r3d_18": tvv.r3d_18, "mc3_18": tvv.mc3_18, "r2plus1d_34": r2plus1d_34}


def build(kind, ctor):
    return FACTORIES[kind](num_classes=ctor["args"][0])


# (name, factory, classes, input shape, torch dtypes). Float64 torch runs its
# convs about ten times slower than float32: the full-size clips are checked in
# float only, their odd-sized clips (every network, every layer) in both.
CASES = [
    ("r2plus1d_18_16x112x112", "r2plus1d_18", 400, [1, 3, 16, 112, 112], ("f32",)),
    ("r2plus1d_18_odd", "r2plus1d_18", 400, [2, 3, 6, 72, 90], ("f32", "f64")),
    ("r3d_18_16x112x112", "r3d_18", 400, [1, 3, 16, 112, 112], ("f32",)),
    ("r3d_18_odd", "r3d_18", 400, [2, 3, 5, 70, 86], ("f32", "f64")),
    ("mc3_18_16x112x112", "mc3_18", 400, [1, 3, 16, 112, 112], ("f32",)),
    ("mc3_18_odd", "mc3_18", 400, [2, 3, 7, 66, 94], ("f32", "f64")),
    ("r2plus1d_18_classes10_train", "r2plus1d_18", 10, [2, 3, 4, 32, 40], ("f32", "f64")),
    ("r2plus1d_34_8x112x112", "r2plus1d_34", 400, [1, 3, 8, 112, 112], ("f32",)),
    ("r2plus1d_34_odd", "r2plus1d_34", 359, [1, 3, 6, 58, 74], ("f32", "f64")),
    # In training mode with momentum 0.9, torch's own float32 result lies 2e-4
    # (scores) to 4e-4 (running statistics) of max |.| from its float64 one on
    # this clip, past the float tolerance: the case is checked in double only.
    ("r2plus1d_34_classes5_train", "r2plus1d_34", 5, [2, 3, 4, 32, 40], ("f64",)),
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
