"""Writes torchvision's VideoClassification preset (crop 112x112, resize
128x171, r2plus1d_18's mean and std) applied to frames, for the C++
preprocessing: video_preprocess.safetensors with, per case, the frames
(`<case>.frames`, (T, H, W, 3) uint8 or float32 RGB) and the preset's output
(`<case>.want`, (3, T, 112, 112) float32). Cases: random uint8 frames of a
decoder's usual sizes, smooth gradients, the same frames as float in [0, 1], and
frames of ffmpeg's testsrc2 pattern decoded by Debian's ffmpeg when it is
installed."""

import argparse
import os
import shutil
import subprocess
import sys

import torch
from torchvision.transforms._presets import VideoClassification

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))

from convert_checkpoint import save_safetensors  # noqa: E402

PRESET = VideoClassification(crop_size=(112, 112), resize_size=(128, 171))


def apply(frames_thwc):
    """The preset as torchvision's video datasets use it: (T, C, H, W) frames in."""
    with torch.no_grad():
        return PRESET(frames_thwc.permute(0, 3, 1, 2)).contiguous()  # (C, T, H, W)


def testsrc2(width, height, frames):
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    raw = subprocess.run([ffmpeg, "-v", "error", "-f", "lavfi", "-i",
                          "testsrc2=size=%dx%d:rate=25" % (width, height), "-frames:v", str(frames),
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(frames, height, width, 3).clone()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(7)
    cases = {
        "u8_320x240": torch.randint(0, 256, (3, 240, 320, 3), dtype=torch.uint8, generator=gen),
        "u8_171x128": torch.randint(0, 256, (2, 128, 171, 3), dtype=torch.uint8, generator=gen),
        "u8_97x113": torch.randint(0, 256, (2, 113, 97, 3), dtype=torch.uint8, generator=gen),
        "u8_1280x720": torch.randint(0, 256, (1, 720, 1280, 3), dtype=torch.uint8, generator=gen),
    }
    y = torch.arange(240).view(1, 240, 1, 1)
    x = torch.arange(320).view(1, 1, 320, 1)
    c = torch.arange(3).view(1, 1, 1, 3)
    t = torch.arange(4).view(4, 1, 1, 1)
    cases["u8_gradient"] = ((x * 3 + y * 5 + c * 40 + t * 17) % 256).to(torch.uint8)
    cases["f32_320x240"] = torch.rand(2, 240, 320, 3, generator=gen)
    cases["f32_from_u8"] = cases["u8_97x113"].float() / 255
    src = testsrc2(320, 240, 4)
    if src is not None:
        cases["u8_testsrc2"] = src
    tensors = {}
    for name, frames in cases.items():
        tensors[name + ".frames"] = frames.contiguous()
        tensors[name + ".want"] = apply(frames)
    save_safetensors(tensors, os.path.join(args.out, "video_preprocess.safetensors"),
                     metadata={"cases": ",".join(cases)})
    print("wrote", len(cases), "cases", flush=True)


if __name__ == "__main__":
    main()
