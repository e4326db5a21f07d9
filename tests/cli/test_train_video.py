"""End-to-end tests of r2plus1d-train on videos made here with Debian's
ffmpeg, in UCF101's list format (1-based labels, classInd.txt beside the
list): one SGD step on each video's centre clip against torch (torchvision's
preset on the same frames, the frozen seed backbone, the head's step), a short
video padded with its last frame, --augment on the whole network's path
(videos decoded again per batch), and missing or corrupt videos skipped with a
warning and counted. Prints 'N passed, N failed' and exits non-zero on any
failure."""

import copy
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

from cli_harness import TOL, check, parse_args, rel_err, run, summary  # first: puts tests/reference and tools on the path
import seed_model as sm  # noqa: E402
from convert_checkpoint import load_safetensors, save_safetensors  # noqa: E402
from gen_models import randomize_batch_norms  # noqa: E402
from test_extract_video import decode, make_video  # noqa: E402


def main():
    a = parse_args(ffmpeg=True)
    exe, ffmpeg, work = a.exe, a.ffmpeg, a.work
    p = lambda *f: os.path.join(work, *f)  # noqa: E731
    torch.set_num_threads(2)
    from torchvision.transforms._presets import VideoClassification
    preset = VideoClassification(crop_size=(112, 112), resize_size=(128, 171))

    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    clf = sm.R2Plus1DClassifier(2, (1, 1, 1, 1))
    randomize_batch_norms(clf, gen)
    clf.eval()
    save_safetensors(clf.state_dict(), p("init.safetensors"))

    T = 4
    classes = ["MoveLeft", "MoveRight"]
    with open(p("classInd.txt"), "w") as f:
        f.write("".join("%d %s\n" % (i + 1, c) for i, c in enumerate(classes)))
    videos = [("MoveLeft", 11, 1), ("MoveRight", 14, 2), ("MoveLeft", 3, 1), ("MoveRight", 9, 2)]
    lines, clips = [], []
    for i, (cls, n, label) in enumerate(videos):
        os.makedirs(p(cls), exist_ok=True)
        rel = "%s/v_%s_g01_c%02d.mkv" % (cls, cls, i + 1)
        make_video(ffmpeg, p(rel), n)
        frames = decode(ffmpeg, p(rel))
        s = max((len(frames) - T) // 2, 0)
        window = frames[s:s + T]
        if len(window) < T:  # padded with the last frame
            window = torch.cat([window, window[-1:].expand(T - len(window), -1, -1, -1)])
        clips.append(preset(window.permute(0, 3, 1, 2)))
        lines.append("%s %d" % (rel, label))
    with open(p("trainlist01.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    x = torch.stack(clips)
    y = torch.tensor([v[2] - 1 for v in videos])

    common = ["--arch", "seed", "--layers", "1,1,1,1", "--weights", p("init.safetensors"), "--clip-len", str(T),
              "--threads", "2", "--epochs", "1", "--batch", "4", "--lr", "0.1", "--momentum", "0.9",
              "--weight-decay", "0.01"]
    r = run(exe, *common, "--train", p("trainlist01.txt"), "--output-dir", p("out"))
    check("UCF101 list of videos: exit 0", r.returncode == 0, r.stderr)
    if r.returncode == 0:
        m = copy.deepcopy(clf)
        with torch.no_grad():
            feats = m.res2plus1d(x)
        opt = torch.optim.SGD(m.linear.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
        F.cross_entropy(m.linear(feats), y).backward()
        opt.step()
        sd = load_safetensors(p("out", "last.safetensors"))
        e = max(rel_err(sd[k].numpy(), m.state_dict()[k].numpy()) for k in ("linear.weight", "linear.bias"))
        print("parity[train video] worst relative error = %.3g" % e)
        check("one step on the videos' centre clips matches torch within 1e-4", e <= TOL, "rel err %g" % e)
        check("classes.txt from classInd.txt", open(p("out", "classes.txt")).read() == "MoveLeft\nMoveRight\n")

    # --augment: with no room to move (every video shorter than the window,
    # which starts at frame 0 and repeats the last one; the crop the whole
    # resized frame) crop equals none bit for bit; with room, crop+flip is
    # deterministic and differs from none.
    settings = {"--epochs": "2", "--batch": "2"}
    whole = [settings.get(common[i - 1], v) if i > 0 else v for i, v in enumerate(common)
             if v != "--clip-len" and common[i - 1] != "--clip-len"]
    whole += ["--freeze", "none", "--no-shuffle"]
    fixed = ["--clip-len", "16", "--resize", "112,112", "--crop", "112"]
    moving = ["--clip-len", "8"]
    outs = {}
    for name, extra in (("none", fixed), ("crop", fixed + ["--augment", "crop"]),
                        ("flip1", moving + ["--augment", "crop+flip"]), ("flip2", moving + ["--augment", "crop+flip"]),
                        ("centre", moving)):
        r = run(exe, *whole, *extra, "--train", p("trainlist01.txt"), "--output-dir", p("aug_" + name))
        outs[name] = open(p("aug_%s" % name, "last.safetensors"), "rb").read() if r.returncode == 0 else r.stderr
    check("--augment crop on videos with no room to move equals --augment none",
          isinstance(outs["crop"], bytes) and outs["crop"] == outs["none"], str(outs["crop"])[:300])
    check("--augment crop+flip on videos: the same bytes twice, other than the centre clips'",
          isinstance(outs["flip1"], bytes) and outs["flip1"] == outs["flip2"] and outs["flip1"] != outs["centre"],
          str(outs["flip1"])[:300])

    with open(p("MoveLeft", "corrupt.mkv"), "wb") as f:
        f.write(b"\x1a\x45\xdf\xa3 not a video" * 20)
    with open(p("bad.txt"), "w") as f:
        f.write("\n".join(lines + ["MoveLeft/corrupt.mkv 1", "MoveRight/missing.mkv 2"]) + "\n")
    r = run(exe, *common, "--train", p("bad.txt"), "--output-dir", p("out_bad"))
    check("missing and corrupt videos are skipped with a warning each and counted",
          r.returncode == 0 and "corrupt.mkv" in r.stderr and "missing.mkv" in r.stderr and
          "2 skipped of 6" in r.stderr, r.stderr)
    if r.returncode == 0:
        check("... and the rest trains as without them",
              open(p("out", "last.safetensors"), "rb").read() == open(p("out_bad", "last.safetensors"), "rb").read())
    return summary()


if __name__ == "__main__":
    sys.exit(main())
