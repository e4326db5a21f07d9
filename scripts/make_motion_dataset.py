#!/usr/bin/python3
"""A small dataset that only temporal modelling solves: a bright square on a
noisy background moving left, right, up or down (labels 0-3). The square's
start, speed, size and colour are drawn at random, so any single frame is
equally likely under every label; only the change between frames tells the
direction.

    python3 scripts/make_motion_dataset.py OUT [--videos 40] [--frames 16] [--size 112] [--format npy|mp4]

OUT gets classInd.txt (1 Left, 2 Right, 3 Up, 4 Down), trainlist01.txt and
testlist01.txt ('path label' lines, labels 1-based as UCF101's, paths relative
to OUT, the last fifth of each class's videos, at least one, for testing), and one file per video:
<Class>/v_<Class>_gGG_cCC.npy, a (3, T, H, W) float32 clip already normalised
as r2plus1d-train takes .npy clips, or with --format mp4 an H.264 video that
ffmpeg writes (needs ffmpeg on PATH), preprocessed by r2plus1d-train itself.
Deterministic for a given --seed. Needs numpy only (and ffmpeg for mp4)."""

import argparse
import os
import subprocess
import sys

import numpy as np

CLASSES = ["Left", "Right", "Up", "Down"]
DIRECTIONS = [(0, -1), (0, 1), (-1, 0), (1, 0)]  # (dy, dx) per frame, in units of the speed
MEAN = np.array([0.43216, 0.394666, 0.37645], np.float32)  # torchvision's video preset
STD = np.array([0.22803, 0.22145, 0.216989], np.float32)


def render(rng, label, frames, size):
    """(T, H, W, 3) uint8 frames of one video of `label`."""
    side = int(rng.integers(size // 8, size // 4))
    speed = float(rng.uniform(1.0, 3.0))
    travel = speed * (frames - 1)
    dy, dx = DIRECTIONS[label]
    # The start is drawn so that the whole path stays inside the frame, and
    # the middle of the path is uniform over the frame, whatever the direction.
    lo, hi = 0.0, size - side - travel
    y0 = rng.uniform(0, size - side) if dy == 0 else (rng.uniform(lo, hi) if dy > 0 else rng.uniform(lo, hi) + travel)
    x0 = rng.uniform(0, size - side) if dx == 0 else (rng.uniform(lo, hi) if dx > 0 else rng.uniform(lo, hi) + travel)
    colour = rng.integers(160, 256, size=3)
    background = rng.integers(0, 96, size=(size, size, 3))
    out = np.empty((frames, size, size, 3), np.uint8)
    for t in range(frames):
        f = np.clip(background + rng.integers(-8, 9, size=background.shape), 0, 255)
        y, x = int(round(y0 + dy * speed * t)), int(round(x0 + dx * speed * t))
        f[y:y + side, x:x + side] = colour
        out[t] = f
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--videos", type=int, default=40, help="videos in all, rounded down to a multiple of 4")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=112, help="frame height and width")
    ap.add_argument("--format", choices=["npy", "mp4"], default="npy")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if a.size < 16 or a.frames < 2 or a.videos < 4:
        ap.error("expected --size >= 16, --frames >= 2 and --videos >= 4")
    if 3.0 * (a.frames - 1) > a.size - a.size // 4:
        ap.error("--frames %d is too many for --size %d: the square would leave the frame" % (a.frames, a.size))
    rng = np.random.default_rng(a.seed)
    with open(os.path.join(_mkdir(a.out), "classInd.txt"), "w") as f:
        f.write("".join("%d %s\n" % (i + 1, c) for i, c in enumerate(CLASSES)))
    train, test = [], []
    per_class = a.videos // 4
    first_test = per_class - max(1, per_class // 5)  # the last fifth of each class's videos (at least one) is test
    for v in range(4 * per_class):
        label = v % 4
        cls = CLASSES[label]
        group, clip = v // 4 // 5 + 1, v // 4 % 5 + 1
        name = "%s/v_%s_g%02d_c%02d" % (cls, cls, group, clip)
        frames = render(rng, label, a.frames, a.size)
        _mkdir(os.path.join(a.out, cls))
        if a.format == "npy":
            rel = name + ".npy"
            x = ((frames.astype(np.float32) / 255.0 - MEAN) / STD).transpose(3, 0, 1, 2)
            np.save(os.path.join(a.out, rel), np.ascontiguousarray(x, dtype=np.float32))
        else:
            rel = name + ".mp4"
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
                            "%dx%d" % (a.size, a.size), "-r", "25", "-i", "-", "-c:v", "libx264", "-pix_fmt",
                            "yuv420p", "-crf", "10", os.path.join(a.out, rel)], input=frames.tobytes(), check=True)
        (test if v // 4 >= first_test else train).append("%s %d" % (rel, label + 1))
    for list_name, rows in (("trainlist01.txt", train), ("testlist01.txt", test)):
        with open(os.path.join(a.out, list_name), "w") as f:
            f.write("\n".join(rows) + "\n")
    print("%s: %d training and %d test videos of %d frames, %dx%d" % (a.out, len(train), len(test), a.frames, a.size,
                                                                       a.size))
    return 0


def _mkdir(d):
    os.makedirs(d, exist_ok=True)
    return d


if __name__ == "__main__":
    sys.exit(main())
