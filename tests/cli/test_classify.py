"""examples/classify.cpp end to end: r2plus1d-classify on a video made here
with Debian's ffmpeg and seeded r2plus1d_18 weights written here gives
torchvision's top-5 classes and probabilities (its preset on the same 16
frames, then the model); a clip too short and a wrong weights file give one
error line and exit 1. Prints 'N passed, N failed'."""

import os
import sys

import torch

from cli_harness import check, parse_args, run, summary  # first: puts tests/reference and tools on the path
from convert_checkpoint import save_safetensors  # noqa: E402
from gen_models import randomize_batch_norms  # noqa: E402
from test_extract_video import decode, make_video  # noqa: E402


def main():
    a = parse_args(ffmpeg=True)
    p = lambda f: os.path.join(a.work, f)  # noqa: E731
    torch.set_num_threads(2)

    from torchvision.transforms._presets import VideoClassification
    import torchvision.models.video as tvv
    from torchvision.models.video import R2Plus1D_18_Weights

    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    tv = tvv.r2plus1d_18()
    randomize_batch_norms(tv, gen)
    with torch.no_grad():
        tv.fc.weight.normal_(0.0, 0.05, generator=gen)  # spread the scores, so the top 5 are well apart
    tv.eval()
    save_safetensors(tv.state_dict(), p("w.safetensors"))

    make_video(a.ffmpeg, p("v.mkv"), 20)
    frames = decode(a.ffmpeg, p("v.mkv"))[:16]
    with torch.no_grad():
        x = VideoClassification(crop_size=(112, 112), resize_size=(128, 171))(frames.permute(0, 3, 1, 2))
        probs, classes = torch.topk(torch.softmax(tv(x.unsqueeze(0)), 1), 5)
    names = R2Plus1D_18_Weights.KINETICS400_V1.meta["categories"]
    want = [(names[c], float(q)) for c, q in zip(classes[0].tolist(), probs[0])]

    r = run(a.exe, p("v.mkv"), p("w.safetensors"))
    check("classify: exit 0", r.returncode == 0, r.stderr)
    got = []
    for line in r.stdout.splitlines():
        name, _, q = line.rpartition(" ")
        got.append((name, float(q)))
    check("5 lines, one class and its probability each", len(got) == 5, r.stdout)
    check("torchvision's top-5 classes in its order", [n for n, _ in got] == [n for n, _ in want],
          "%s vs %s" % (got, want))
    check("torchvision's probabilities within 1e-4",
          len(got) == 5 and all(abs(g[1] - w[1]) <= 1e-4 for g, w in zip(got, want)), "%s vs %s" % (got, want))

    make_video(a.ffmpeg, p("short.mkv"), 10)
    r = run(a.exe, p("short.mkv"), p("w.safetensors"))
    check("a 10-frame video: one error line, exit 1",
          r.returncode == 1 and r.stderr.startswith("error: narrow:") and r.stderr.count("\n") == 1, r.stderr)
    save_safetensors({"fc.weight": torch.zeros(400, 512)}, p("bad.safetensors"))
    r = run(a.exe, p("v.mkv"), p("bad.safetensors"))
    check("weights without the backbone: StateDictError, exit 1",
          r.returncode == 1 and "missing keys" in r.stderr, r.stderr)
    r = run(a.exe, p("v.mkv"))
    check("a missing argument: usage, exit 1", r.returncode == 1 and "usage" in r.stderr, r.stderr)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
