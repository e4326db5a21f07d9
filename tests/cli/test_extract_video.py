"""End-to-end tests of r2plus1d-extract on videos made here with Debian's
ffmpeg: features of r2plus1d_18 against torchvision (its preset on the same
frames, then the model), clip sampling (--clip-len, --step, --fps, padding of
short videos), the index CSV, directories, --input-list, --shard, resuming,
--overwrite, --format csv, bad files (one error line each, the others still
run, exit 3), videos cut short (a warning, or an error with --strict) and
stderr that is fit for a log. Prints 'N passed, N failed' and
exits non-zero on any failure."""

import csv
import json
import json
import os
import re
import subprocess
import sys

import numpy as np
import torch

from cli_harness import TOL, check, parse_args, rel_err, run, summary  # first: puts tests/reference and tools on the path
from convert_checkpoint import save_safetensors  # noqa: E402
from gen_models import randomize_batch_norms  # noqa: E402

def make_video(ffmpeg, path, frames, size="160x120", extra=("-c:v", "ffv1", "-pix_fmt", "bgr0")):
    """testsrc2 frames, lossless by default so that decoded pixels are exact."""
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=%s:rate=25" % size,
                    "-frames:v", str(frames), *extra, path], check=True)


def decode(ffmpeg, path):
    """(T, H, W, 3) uint8 RGB frames as ffmpeg decodes them."""
    probe = subprocess.run([ffmpeg, "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                           capture_output=True, check=True).stdout
    w, h = 160, 120
    return torch.frombuffer(bytearray(probe), dtype=torch.uint8).reshape(-1, h, w, 3)


def read_index(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def jsonl(path):
    """The objects of a JSON Lines file (NaN and Infinity, which JSON has not, refused)."""
    def bad(name):
        raise ValueError("not JSON: " + name)
    with open(path, encoding="utf-8") as f:
        return [json.loads(line, parse_constant=bad) for line in f.read().split("\n")[:-1]]


def main():
    a = parse_args(ffmpeg=True)
    exe, ffmpeg, work = a.exe, a.ffmpeg, a.work
    p = lambda *f: os.path.join(work, *f)  # noqa: E731
    torch.set_num_threads(2)

    from torchvision.transforms._presets import VideoClassification
    import torchvision.models.video as tvv
    preset = VideoClassification(crop_size=(112, 112), resize_size=(128, 171))

    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    tv = tvv.r2plus1d_18()
    randomize_batch_norms(tv, gen)
    tv.eval()
    save_safetensors(tv.state_dict(), p("r2p1d18.safetensors"))

    def features(clips):  # list of (T, H, W, 3) uint8 -> (N, 512)
        with torch.no_grad():
            x = torch.stack([preset(c.permute(0, 3, 1, 2)) for c in clips])
            return torch.flatten(tv.avgpool(tv.layer4(tv.layer3(tv.layer2(tv.layer1(tv.stem(x)))))), 1).numpy()

    # --- features of r2plus1d_18 on a video match torchvision's preset + model
    make_video(ffmpeg, p("a.mkv"), 40)
    frames = decode(ffmpeg, p("a.mkv"))
    check("ffmpeg made 40 frames", frames.shape[0] == 40, str(frames.shape))
    common = ["--arch", "r2plus1d_18", "--weights", p("r2p1d18.safetensors"), "--threads", "2"]
    r = run(exe, *common, "--clip-len", "8", "--step", "12", "--batch", "2", "--output-dir", p("out"), p("a.mkv"))
    check("video, r2plus1d_18: exit 0", r.returncode == 0, r.stderr)
    if r.returncode == 0:
        y = np.load(p("out", "a.npy"))
        check("3 clips of 512 float32 features", y.shape == (3, 512) and y.dtype == np.float32, str(y.shape))
        want = features([frames[s:s + 8] for s in (0, 12, 24)])
        e = rel_err(y, want) if y.shape == want.shape else float("inf")
        print("parity[cli_video] worst relative error = %.3g" % e)
        check("video features match torchvision's preset and r2plus1d_18 within 1e-4", e <= TOL, "rel err %g" % e)
        rows = read_index(p("out", "index.csv"))
        check("index has one row per clip", len(rows) == 3, str(rows))
        check("index start frames 0, 12, 24", [r_["start_frame"] for r_ in rows] == ["0", "12", "24"], str(rows))
        check("index start times 0, 0.48, 0.96 s",
              [round(float(r_["start_time"]), 3) for r_ in rows] == [0.0, 0.48, 0.96], str(rows))
        check("index names the video and its output",
              all(r_["video"] == p("a.mkv") and r_["output"] == p("out", "a.npy") for r_ in rows), str(rows))
        check("index end frames 7, 19, 31: a clip's last frame (inclusive), end_frame - start_frame + 1 = clip-len",
              [r_["end_frame"] for r_ in rows] == ["7", "19", "31"], str(rows))
        check("index fps 25, end times those of the last frames (start_time + 7/25)",
              all(r_["fps"] == "25.000000" and abs(float(r_["end_time"]) - float(r_["start_time"]) - 7 / 25) < 2e-6
                  for r_ in rows), str(rows))
        # The same clips as JSON Lines: their features those of the .npy, their frames and times the index's.
        r = run(exe, *common, "--clip-len", "8", "--step", "12", "--batch", "2", "--format", "jsonl", "--output-dir",
                p("out_jsonl"), p("a.mkv"))
        check("video --format jsonl: exit 0", r.returncode == 0, r.stderr)
        objs = jsonl(p("out_jsonl", "a.jsonl")) if r.returncode == 0 else []
        jrows = read_index(p("out_jsonl", "index.csv")) if r.returncode == 0 else []
        fields = ("start_frame", "end_frame", "start_time", "end_time", "fps")
        check("video --format jsonl: one object per clip, features equal to the .npy's, frames, times and fps the "
              "index's", len(objs) == 3 and len(jrows) == 3 and all(
                  o["input"] == p("a.mkv") and o["clip"] == k and
                  np.array_equal(np.array(o["features"], np.float32), y[k]) and
                  all(float(o[f]) == float(jrows[k][f]) for f in fields) and
                  jrows[k]["output"] == p("out_jsonl", "a.jsonl") for k, o in enumerate(objs)), str(objs)[:400])
        check("no carriage returns on a non-terminal stderr", "\r" not in r.stderr, repr(r.stderr))

    # --- --fps 12.5 on a 25 fps video takes every other frame
    r = run(exe, *common, "--clip-len", "8", "--step", "8", "--fps", "12.5", "--output", p("half.npy"), p("a.mkv"))
    check("--fps 12.5: exit 0", r.returncode == 0, r.stderr)
    if r.returncode == 0:
        y = np.load(p("half.npy"))
        half = frames[::2]
        want = features([half[0:8], half[8:16]])
        check("--fps 12.5 gives 2 clips", y.shape == (2, 512), str(y.shape))
        check("--fps 12.5 features match torch on every other frame",
              y.shape == want.shape and rel_err(y, want) <= TOL, "")
        r = run(exe, *common, "--clip-len", "8", "--step", "8", "--fps", "12.5", "--format", "jsonl", "--output",
                p("half.jsonl"), p("a.mkv"))
        objs = jsonl(p("half.jsonl")) if r.returncode == 0 else []
        check("--fps 12.5 --format jsonl: source frames 0-14 and 16-30 at 12.5 fps, end times those frames' times",
              [(o["start_frame"], o["end_frame"], o["fps"]) for o in objs] == [(0, 14, 12.5), (16, 30, 12.5)] and
              all(abs(o["end_time"] - o["end_frame"] / 25) < 2e-6 for o in objs) and
              all(np.array_equal(np.array(o["features"], np.float32), y[k]) for k, o in enumerate(objs)),
              r.stderr + str([(o["start_frame"], o["end_frame"], o["fps"], o["end_time"]) for o in objs]))

    # --- a short video is padded with its last frame, and says so
    make_video(ffmpeg, p("short.mkv"), 5)
    short = decode(ffmpeg, p("short.mkv"))
    r = run(exe, *common, "--clip-len", "8", "--output", p("short.npy"), p("short.mkv"))
    check("short video: exit 0", r.returncode == 0, r.stderr)
    check("short video: padding announced on stderr", "repeats the last frame" in r.stderr and "short.mkv" in r.stderr,
          r.stderr)
    if r.returncode == 0:
        y = np.load(p("short.npy"))
        want = features([torch.cat([short, short[-1:].expand(3, -1, -1, -1)])])
        check("short video: one clip equal to torch on the padded frames",
              y.shape == (1, 512) and rel_err(y, want) <= TOL, str(y.shape))

    # --- --format csv holds the same numbers as text
    r = run(exe, *common, "--clip-len", "8", "--format", "csv", "--output", p("short.csv"), p("short.mkv"))
    check("--format csv: exit 0", r.returncode == 0, r.stderr)
    if r.returncode == 0 and os.path.exists(p("short.npy")):
        with open(p("short.csv")) as f:
            header = f.readline().strip()
        check("--format csv: a header line f0..f511", header == ",".join("f%d" % k for k in range(512)), header[:80])
        t = np.loadtxt(p("short.csv"), delimiter=",", ndmin=2, skiprows=1)
        check("--format csv equals the .npy", t.shape == (1, 512) and np.array_equal(t.astype(np.float32),
                                                                                       np.load(p("short.npy"))), "")

    # --- a directory with good, bad and non-video files: the good ones run, each bad one is one error line
    d = p("dir")
    os.makedirs(d)
    small = ["--arch", "seed", "--layers", "1,1,1,1", "--clip-len", "4", "--step", "4", "--threads", "2"]
    for name, n in (("v1.mkv", 8), ("v2.avi", 6), ("v3.mp4", 9)):
        make_video(ffmpeg, os.path.join(d, name), n, "64x48",
                   ("-c:v", "mpeg4") if name.endswith(".mp4") else ("-c:v", "ffv1"))
    open(os.path.join(d, "empty.mp4"), "wb").close()
    with open(os.path.join(d, "random.mkv"), "wb") as f:
        f.write(np.random.default_rng(1).integers(0, 256, 50000, dtype=np.uint8).tobytes())
    with open(os.path.join(d, "v3.mp4"), "rb") as f:
        data = f.read()
    with open(os.path.join(d, "truncated.mp4"), "wb") as f:
        f.write(data[:300])
    with open(os.path.join(d, "notes.txt"), "w") as f:
        f.write("not a video\n")
    out = p("dir_out")
    r = run(exe, *small, "--output-dir", out, d)
    bad = ("empty.mp4", "random.mkv", "truncated.mp4")
    err_lines = [l for l in r.stderr.splitlines() if "error" in l]
    check("directory with bad videos: exit 3", r.returncode == 3, "rc=%d %s" % (r.returncode, r.stderr))
    check("one error line per bad video, naming it", len(err_lines) == 3 and
          all(any(b in l for l in err_lines) for b in bad), r.stderr)
    check("non-video files are not taken from a directory", "notes.txt" not in r.stderr, r.stderr)
    made = sorted(f for f in os.listdir(out) if f.endswith(".npy"))
    check("good videos written", made == ["v1.npy", "v2.npy", "v3.npy"], str(made))
    rows = read_index(os.path.join(out, "index.csv")) if os.path.exists(os.path.join(out, "index.csv")) else []
    per_video = {}
    for row in rows:
        per_video.setdefault(os.path.basename(row["video"]), []).append(row["start_frame"])
    check("index rows of the directory run", per_video == {"v1.mkv": ["0", "4"], "v2.avi": ["0"], "v3.mp4": ["0", "4"]},
          str(per_video))
    if made:
        check("v1: 2 clips", np.load(os.path.join(out, "v1.npy")).shape == (2, 512), "")

    # --- resume: outputs that exist are skipped and reported; --overwrite recomputes without duplicating rows
    stamp = os.path.getmtime(os.path.join(out, "v1.npy")) if made else 0
    r = run(exe, *small, "--output-dir", out, d)
    check("resume: exit 3 (the bad videos still fail)", r.returncode == 3, r.stderr)
    check("resume: the done videos are reported skipped", sum(l.startswith("r2plus1d-extract: skipped '") for l in r.stderr.splitlines()) == 3,
          r.stderr)
    check("resume: outputs untouched", made and os.path.getmtime(os.path.join(out, "v1.npy")) == stamp, "")
    r = run(exe, *small, "--output-dir", out, "--overwrite", os.path.join(d, "v1.mkv"), os.path.join(d, "v2.avi"))
    check("--overwrite: exit 0", r.returncode == 0, r.stderr)
    check("--overwrite: nothing skipped", "skipped '" not in r.stderr, r.stderr)
    rows = read_index(os.path.join(out, "index.csv"))
    check("--overwrite: index without duplicate rows", len(rows) == 5, str(rows))

    # --- --input-list and --shard split a dataset without overlap
    good = [os.path.join(d, n) for n in ("v1.mkv", "v2.avi", "v3.mp4")]
    with open(p("list.txt"), "w") as f:
        f.write("# videos\n" + "\n".join(good) + "\n\n")
    names = []
    for k in (0, 1):
        so = p("shard_out")
        r = run(exe, *small, "--input-list", p("list.txt"), "--shard", "%d/2" % k, "--output-dir", so, "--quiet")
        check("--shard %d/2: exit 0" % k, r.returncode == 0, r.stderr)
        check("--shard %d/2 --quiet: nothing on stderr" % k, r.stderr == "", r.stderr)
        idx = os.path.join(so, "index.%d-of-2.csv" % k)
        shard_rows = read_index(idx) if os.path.exists(idx) else []
        names.append(sorted({os.path.basename(row["video"]) for row in shard_rows}))
    check("--shard 0/2 takes the 1st and 3rd", names[0] == ["v1.mkv", "v3.mp4"], str(names))
    check("--shard 1/2 takes the 2nd", names[1] == ["v2.avi"], str(names))

    # --- bad arguments: one error line, non-zero exit
    for what, args in (("--output with two inputs", ["--output", p("x.npy")] + good[:2]),
                       ("bad --shard", ["--shard", "2/2", good[0]]),
                       ("bad --format", ["--format", "txt", good[0]]),
                       ("--step 0", ["--step", "0", good[0]]),
                       ("missing --input-list", ["--input-list", p("nope.txt")]),
                       ("directory without videos", [p("out", "..", "shard_out")]),
                       ("--max-pixels 0", ["--max-pixels", "0", good[0]])):
        r = run(exe, *small, *args)
        errs = [l for l in r.stderr.splitlines() if "error" in l]
        check("bad arguments (%s): non-zero exit, one error line" % what, r.returncode > 0 and len(errs) == 1,
              "rc=%d %r" % (r.returncode, r.stderr))
    r = run(exe, *small, p("missing.mp4"))
    check("missing video alone: exit 3 with one error line naming it",
          r.returncode == 3 and sum("error" in l for l in r.stderr.splitlines()) == 1 and "missing.mp4" in r.stderr,
          r.stderr)

    # --- frames larger than --max-pixels: one error line that gives the size and the flag to raise
    r = run(exe, *small, "--max-pixels", str(64 * 48 - 1), good[0])
    errs = [l for l in r.stderr.splitlines() if "error" in l]
    check("frames over --max-pixels: exit 3, one error line with the size and the flag",
          r.returncode == 3 and len(errs) == 1 and "64x48 (3072 pixels), more than max_pixels 3071" in errs[0]
          and "--max-pixels" in errs[0], "rc=%d %r" % (r.returncode, r.stderr))
    r = run(exe, *small, "--max-pixels", str(64 * 48), good[0])
    check("frames of exactly --max-pixels: exit 0", r.returncode == 0, r.stderr)

    # --- videos cut short (an interrupted copy): cut at a packet boundary they decode without an error
    ffprobe = os.path.join(os.path.dirname(ffmpeg), "ffprobe")
    cut = p("cut")
    os.makedirs(cut)
    sixteen = ["--arch", "seed", "--layers", "1,1,1,1", "--clip-len", "16", "--step", "16", "--threads", "2"]
    for ext, extra in ((".mp4", ("-c:v", "mpeg4", "-movflags", "+faststart")), (".mkv", ("-c:v", "mpeg4"))):
        full = os.path.join(cut, "full" + ext)
        make_video(ffmpeg, full, 50, "64x48", extra)
        pk = json.loads(subprocess.run([ffprobe, "-v", "error", "-select_streams", "v", "-show_entries",
                                        "packet=pos,size", "-of", "json", full], capture_output=True,
                                       check=True).stdout)["packets"]
        pos = sorted((int(q["pos"]), int(q["size"])) for q in pk)
        with open(full, "rb") as f:
            data = f.read()
        with open(os.path.join(cut, "at40" + ext), "wb") as f:
            f.write(data[:pos[40][0]])  # the first 40 of 50 packets
        with open(os.path.join(cut, "mid40" + ext), "wb") as f:
            f.write(data[:pos[40][0] + pos[40][1] // 2])
        r = run(exe, *sixteen, "--quiet", full)
        check("whole %s: exit 0, nothing on stderr" % ext, r.returncode == 0 and r.stderr == "", r.stderr)
        for name in ("at40", "mid40"):
            v = os.path.join(cut, name + ext)
            r = run(exe, *sixteen, "--quiet", "--output-dir", p("cut_out" + ext), v)
            # (a packet cut in half may still decode: 40 or 41 frames)
            want = r"decoded 4[01] of the 50 frames its container lists" if ext == ".mp4" else r"decoded 4[01] of about 5\d"
            check("%s%s: exit 0 with a warning naming it and the frames decoded" % (name, ext),
                  r.returncode == 0 and re.search(r"warning: '%s': truncated: %s" % (re.escape(v), want), r.stderr),
                  r.stderr)
            check("%s%s: counted at the end" % (name, ext), "1 video(s) truncated or damaged" in r.stderr, r.stderr)
            out_file = p("cut_out" + ext, name + ".npy")
            check("%s%s: 2 clips written" % (name, ext), os.path.isfile(out_file) and
                  np.load(out_file).shape == (2, 512))
            r = run(exe, *sixteen, "--quiet", "--strict", "--output-dir", p("strict_out" + ext), v)
            check("%s%s --strict: exit 3, one error line, nothing written" % (name, ext),
                  r.returncode == 3 and r.stderr.count("\n") == 1 and "error: video: '%s': truncated" % v in r.stderr
                  and not os.path.exists(p("strict_out" + ext, name + ".npy")), r.stderr)

    return summary()


if __name__ == "__main__":
    sys.exit(main())
