"""End-to-end tests of r2plus1d-extract's video-level evaluation on a video
made by Debian's ffmpeg (tests/reference/gen_video_level.py, which computes
the same sampling, crops and averaging in torch on the decoded frames):
--clips-per-video 5 --crops 3 --video-level --logits against torch, the same
without --video-level (one row per clip and crop), ten crops of one clip,
--fps 15 --clips-per-video 5 --video-level (one row per video), --topk per
video, and the new flags' errors and their place in the output directory's
settings. Prints 'N passed, N failed' and exits non-zero on any failure."""

import csv
import json
import os
import subprocess
import sys

import numpy as np

from cli_harness import TOL, check, parse_args, rel_err, run, summary  # first: puts tests/reference and tools on the path
from convert_checkpoint import load_safetensors  # noqa: E402


def read_index(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def errors(r):
    return [l for l in r.stderr.splitlines() if "error" in l]


def main():
    a = parse_args(ffmpeg=True, ref=True)
    exe, ffmpeg, work = a.exe, a.ffmpeg, a.work
    p = lambda *f: os.path.join(work, *f)  # noqa: E731
    video = os.path.join(a.ref, "video_level.mkv")
    weights = os.path.join(a.ref, "video_level_clf.safetensors")
    ref = {k: v.numpy() for k, v in load_safetensors(os.path.join(a.ref, "video_level.safetensors")).items()}
    if not check("the reference has the video case", "video.want" in ref and os.path.exists(video), a.ref):
        return summary()
    # The views must differ by far more than the tolerance, or a wrong clip or crop would pass unseen.
    rows = ref["video.rows"]
    probs = np.exp(rows - rows.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    tol = TOL * np.abs(ref["video.want"]).max()
    check("the reference's views differ by over 100x the tolerance",
          (probs.max(0) - probs.min(0)).max() > 100 * tol, str(probs))
    check("the first clip alone averages over 10x the tolerance away from all five",
          np.abs(probs[:3].mean(0) - ref["video.want"][0]).max() > 10 * tol, "")
    by_clip = rows.reshape(5, 3, -1)
    crop_gap = min(np.abs(by_clip[:, i] - by_clip[:, j]).max(1).min() for i, j in ((0, 1), (0, 2), (1, 2)))
    check("the three crops of every clip differ by over 5x the tolerance of the rows",
          crop_gap > 5 * TOL * np.abs(rows).max(), str(crop_gap))
    clf = ["--arch", "seed", "--layers", "1,1,1,1", "--weights", weights, "--threads", "2", "--clip-len", "8"]

    # --- 5 clips, 3 crops, averaged probabilities: torch's on the same frames
    r = run(exe, *clf, "--clips-per-video", "5", "--crops", "3", "--video-level", "--logits", "--batch", "4",
            "--output-dir", p("out"), video)
    check("--clips-per-video 5 --crops 3 --video-level --logits: exit 0", r.returncode == 0, r.stderr)
    if r.returncode == 0:
        y = np.load(p("out", "video_level.npy"))
        want = ref["video.want"]
        check("one (1, 7) float32 row", y.shape == (1, 7) and y.dtype == np.float32, str(y.shape))
        e = rel_err(y, want) if y.shape == want.shape else float("inf")
        print("parity[cli_video_level] worst relative error = %.3g" % e)
        check("video-level probabilities match torch within 1e-4", e <= TOL, "rel err %g" % e)
        check("they sum to 1", abs(float(y.sum()) - 1) < 1e-5, str(y.sum()))
        rows = read_index(p("out", "index.csv"))
        check("index: one row for the video, from its first clip's start", len(rows) == 1 and rows[0]["clip"] == "0"
              and rows[0]["start_frame"] == "0" and rows[0]["output"] == p("out", "video_level.npy"), str(rows))
        fps = float(rows[0]["fps"]) if rows and rows[0]["fps"] else 0
        check("index: to its last clip's end (frame 42 + 7), at the video's rate",
              rows and rows[0]["end_frame"] == "49" and fps > 0 and
              abs(float(rows[0]["end_time"]) - float(rows[0]["start_time"]) - 49 / fps) < 1e-3, str(rows))
        # The same as JSON Lines: one object for the video, the probabilities of the .npy and its top classes.
        r = run(exe, *clf, "--clips-per-video", "5", "--crops", "3", "--video-level", "--logits", "--batch", "4",
                "--format", "jsonl", "--output-dir", p("out_jsonl"), video)
        with open(p("out_jsonl", "video_level.jsonl"), encoding="utf-8") as f:
            objs = [json.loads(l, parse_constant=lambda c: None) for l in f.read().split("\n")[:-1]]
        o = objs[0] if len(objs) == 1 else {}
        order = list(np.argsort(-y[0], kind="stable")[:5])
        check("--video-level --format jsonl: one object, its probs the .npy's, its top 5 classes in order",
              r.returncode == 0 and len(objs) == 1 and np.array_equal(np.array(o["probs"], np.float32), y[0]) and
              [t["index"] for t in o["topk"]] == order and
              np.array_equal(np.array([t["prob"] for t in o["topk"]], np.float32), y[0][order]) and
              (o["start_frame"], o["end_frame"]) == (0, 49) and o["fps"] == float(rows[0]["fps"]),
              r.stderr + str(objs)[:400])
        r = run(exe, "--merge", p("out_jsonl"), "--format", "jsonl", video)
        check("--merge of the jsonl output: exit 0, complete", r.returncode == 0 and "1 complete" in r.stderr, r.stderr)

    # --- the same clips and crops without --video-level: one row of logits per clip and crop
    r = run(exe, *clf, "--clips-per-video", "5", "--crops", "3", "--logits", "--output-dir", p("rows"), video)
    check("--clips-per-video 5 --crops 3 --logits: exit 0", r.returncode == 0, r.stderr)
    if r.returncode == 0:
        y = np.load(p("rows", "video_level.npy"))
        want = ref["video.rows"]
        e = rel_err(y, want) if y.shape == want.shape else float("inf")
        check("15 rows of logits match torch's clips and crops within 1e-4", e <= TOL, "%s rel err %g" % (y.shape, e))
        rows = read_index(p("rows", "index.csv"))
        starts = [int(x) for x in np.floor(np.linspace(0, 50 - 8, 5)).astype(int)]
        check("index: a row per clip and crop, clip numbers and starts repeated per crop",
              [(r_["clip"], r_["start_frame"]) for r_ in rows] ==
              [(str(k), str(s)) for k, s in enumerate(starts) for _ in range(3)], str(rows))
        r = run(exe, *clf, "--clips-per-video", "5", "--crops", "3", "--logits", "--format", "jsonl", "--output-dir",
                p("rows_jsonl"), video)
        objs = []
        if r.returncode == 0:
            with open(p("rows_jsonl", "video_level.jsonl"), encoding="utf-8") as f:
                objs = [json.loads(l) for l in f.read().split("\n")[:-1]]
        check("--crops 3 --format jsonl: an object per clip and crop, clip and crop numbered, the logits the .npy's",
              len(objs) == 15 and [(o["clip"], o["crop"], o["start_frame"], o["end_frame"]) for o in objs] ==
              [(k, c, s, s + 7) for k, s in enumerate(starts) for c in range(3)] and
              all(np.array_equal(np.array(o["logits"], np.float32), y[n]) for n, o in enumerate(objs)),
              r.stderr + str(objs)[:300])

    # --- ten crops of one clip: torchvision's TenCrop of the 128x171 resize
    r = run(exe, *clf, "--clips-per-video", "1", "--crops", "10", "--logits", "--output", p("ten.npy"), video)
    check("--clips-per-video 1 --crops 10 --logits: exit 0", r.returncode == 0, r.stderr)
    if r.returncode == 0:
        y = np.load(p("ten.npy"))
        want = ref["video.ten"]
        e = rel_err(y, want) if y.shape == want.shape else float("inf")
        check("10 rows of logits match torch's TenCrop within 1e-4", e <= TOL, "%s rel err %g" % (y.shape, e))

    # --- --topk per video prints the averaged probabilities
    r = run(exe, *clf, "--clips-per-video", "5", "--crops", "3", "--video-level", "--topk", "2", video)
    check("--video-level --topk 2: exit 0", r.returncode == 0, r.stderr)
    if r.returncode == 0:
        lines = [l for l in r.stdout.splitlines() if " video top" in l]
        top = int(np.argmax(ref["video.want"]))
        check("two lines per video, the first naming torch's top class with its probability",
              len(lines) == 2 and ("class %d " % top) in lines[0] and
              ("p=%.4f" % ref["video.want"][0, top]) in lines[0], r.stdout)

    # --- torchvision's protocol: --fps 15 --clips-per-video 5 --video-level, one row per video
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=96x72:rate=30", "-frames:v", "20",
                    "-c:v", "ffv1", p("b.mkv")], check=True)
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=96x72:rate=30", "-frames:v", "6",
                    "-c:v", "ffv1", p("c.mkv")], check=True)
    r = run(exe, *clf, "--fps", "15", "--clips-per-video", "5", "--video-level", "--output-dir", p("fps"),
            video, p("b.mkv"), p("c.mkv"))
    check("--fps 15 --clips-per-video 5 --video-level: exit 0", r.returncode == 0, r.stderr)
    if r.returncode == 0:
        shapes = [np.load(p("fps", n)).shape for n in ("video_level.npy", "b.npy", "c.npy")]
        check("one (1, 512) feature row per video", shapes == [(1, 512)] * 3, str(shapes))
        rows = read_index(p("fps", "index.csv"))
        check("index: one row per video", sorted(os.path.basename(r_["video"]) for r_ in rows) ==
              ["b.mkv", "c.mkv", "video_level.mkv"], str(rows))
        check("the short video's padding is said on stderr", "c.mkv' has 3 frame(s) at --fps" in r.stderr, r.stderr)
        by = {os.path.basename(r_["video"]): r_ for r_ in rows}
        # b.mkv: 20 frames at 30 fps, 10 at 15; the last clip ends on sampled frame 9, source frame 18.
        # c.mkv: 6 frames, 3 at 15 fps, one padded clip ending on its last, source frame 4. (Matroska's times are
        # in milliseconds.)
        check("--fps 15: fps 15 in the index, the end the last clip's last source frame and its time",
              all(r_["fps"] == "15.000000" for r_ in rows) and
              by["b.mkv"]["end_frame"] == "18" and abs(float(by["b.mkv"]["end_time"]) - 18 / 30) < 1e-3 and
              by["c.mkv"]["end_frame"] == "4" and abs(float(by["c.mkv"]["end_time"]) - 4 / 30) < 1e-3, str(rows))

    # --- the new settings are recorded: a rerun with others is refused, the same one resumes
    r = run(exe, *clf, "--clips-per-video", "5", "--crops", "10", "--video-level", "--logits", "--output-dir",
            p("out"), video)
    check("other --crops in the same --output-dir: refused, naming --crops",
          r.returncode == 1 and len(errors(r)) == 1 and "--crops 3 there, 10 here" in r.stderr, r.stderr)
    r = run(exe, *clf, "--clips-per-video", "5", "--crops", "3", "--logits", "--output-dir", p("out"), video)
    check("without --video-level in the same --output-dir: refused",
          r.returncode == 1 and "--video-level yes there, no here" in r.stderr, r.stderr)
    r = run(exe, *clf, "--clips-per-video", "5", "--crops", "3", "--video-level", "--logits", "--output-dir",
            p("out"), video)
    check("the same settings: the video is skipped", r.returncode == 0 and "skipped '" in r.stderr, r.stderr)

    # --- bad combinations: one error line, non-zero exit
    for what, args in (("--clips-per-video with --step", ["--clips-per-video", "5", "--step", "4", video]),
                       ("--crops 5", ["--crops", "5", video]),
                       ("--clips-per-video 0", ["--clips-per-video", "0", video])):
        r = run(exe, *clf, *args)
        check("bad arguments (%s): non-zero exit, one error line" % what,
              r.returncode > 0 and len(errors(r)) == 1, "rc=%d %r" % (r.returncode, r.stderr))
    return summary()


if __name__ == "__main__":
    sys.exit(main())
