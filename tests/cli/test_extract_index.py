"""End-to-end tests of r2plus1d-extract's output directory on small .npy
clips: the index rebuilt from the rows kept per output (resume repairs a
missing or damaged index), every write checked (a full disk on a small tmpfs
when running as root: never exit 0 with an output or index missing), output
names that never collide with the index, CSV quoting read back, the lock, the
recorded settings, a read-only directory refused at start, and directories
read recursively. Prints 'N passed, N failed' and exits non-zero on any
failure."""

import csv
import json
import fcntl
import os
import shutil
import subprocess
import sys
import time

import numpy as np

from cli_harness import check, parse_args, run, summary

NET = ["--layers", "1,1,1,1", "--threads", "1"]


def clips(path, n, t=4, size=16, seed=0):
    np.save(path, np.random.default_rng(seed).standard_normal((n, 3, t, size, size)).astype(np.float32))


def y4m(path, frames, size=32):
    """A raw YUV 4:2:0 video: FFmpeg reads it, no encoder needed."""
    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        f.write(b"YUV4MPEG2 W%d H%d F25:1 Ip A1:1 C420jpeg\n" % (size, size))
        for _ in range(frames):
            f.write(b"FRAME\n" + rng.integers(0, 256, size * size * 3 // 2, dtype=np.uint8).tobytes())


def index_rows(out, name="index.csv"):
    path = os.path.join(out, name)
    if not os.path.isfile(path):
        return None
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def jsonl(path):
    """The objects of a JSON Lines file, each line parsed on its own; NaN and
    Infinity, which JSON has not, are refused."""
    def bad(name):
        raise ValueError("not JSON: " + name)
    with open(path, "rb") as f:
        text = f.read()
    assert text.endswith(b"\n"), "the last line is not ended"
    return [json.loads(line.decode("utf-8"), parse_constant=bad) for line in text.split(b"\n")[:-1]]


def errors(r):
    return [l for l in r.stderr.splitlines() if "error" in l]


def tmp_files(d):
    """Temporary files left anywhere under `d`, the tool's own folder included."""
    return [os.path.join(root, f) for root, _, files in os.walk(d) for f in files if f.endswith(".tmp")]


class Tmpfs:
    """A small tmpfs mounted at `path` (root only), filled but for `free` pages."""

    def __init__(self, path, size_kb=256):
        self.path = path
        os.makedirs(path, exist_ok=True)
        self.ok = os.geteuid() == 0 and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=%dk" % size_kb, "tmpfs", path], capture_output=True).returncode == 0
        self.fill = os.path.join(path, "fill")

    def leave(self, free_pages):
        with open(self.fill, "ab", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:
                pass
        os.truncate(self.fill, max(0, os.path.getsize(self.fill) - 4096 * free_pages))

    def unfill(self):
        if os.path.exists(self.fill):
            os.remove(self.fill)

    def close(self):
        if self.ok:
            subprocess.run(["umount", self.path], capture_output=True)


def main():
    a = parse_args()
    exe, work = a.exe, a.work
    p = lambda *f: os.path.join(work, *f)  # noqa: E731
    for name, n in (("a", 1), ("b", 2), ("c", 3)):
        clips(p(name + ".npy"), n, seed=n)
    abc = [p("a.npy"), p("b.npy"), p("c.npy")]
    want_rows = 6
    E = lambda *args: run(exe, *NET, *args)  # noqa: E731

    def complete(out, inputs=abc, rows=want_rows, fmt="npy"):
        got = index_rows(out)
        names = [os.path.splitext(os.path.basename(i))[0] for i in inputs]
        return got is not None and len(got) == rows and all(os.path.exists(os.path.join(out, n + "." + fmt)) for n in names) \
            and sorted({r["video"] for r in got}) == sorted(inputs)

    # --- resume repairs an index that could not be written: index.csv a directory, then removed
    out = p("dir_index")
    os.makedirs(os.path.join(out, "index.csv"))
    r = E("--output-dir", out, *abc)
    check("index.csv a directory: non-zero exit", r.returncode != 0, r.stderr)
    check("index.csv a directory: an error line on the index with the OS error",
          any("index" in l and "(Is a directory)" in l for l in errors(r)), r.stderr)
    check("index.csv a directory: the outputs are kept", all(os.path.exists(os.path.join(out, n)) for n in
                                                                ("a.npy", "b.npy", "c.npy")), str(os.listdir(out)))
    os.rmdir(os.path.join(out, "index.csv"))
    r = E("--output-dir", out, *abc)
    check("after removing it: exit 0, the inputs skipped", r.returncode == 0 and r.stderr.count("skipped '") == 3, r.stderr)
    check("after removing it: the index has every row", complete(out), str(index_rows(out)))

    # --- resume rebuilds a deleted or cut index, and repairs an output whose rows were not committed
    if os.path.isfile(os.path.join(out, "index.csv")):
        os.remove(os.path.join(out, "index.csv"))
    r = E("--output-dir", out, *abc)
    check("index deleted: rebuilt by the next run", r.returncode == 0 and complete(out), r.stderr)
    with open(os.path.join(out, "index.csv"), "a+") as f:
        f.truncate(50)
    r = E("--output-dir", out, *abc)
    check("index cut mid-row: rebuilt by the next run", r.returncode == 0 and complete(out), r.stderr)
    rows_b = os.path.join(out, ".r2plus1d-extract", "rows", "b.npy.csv")
    check("the rows of each output are kept in .r2plus1d-extract/rows", os.path.isfile(rows_b), "")
    if os.path.isfile(rows_b):
        os.rename(rows_b, rows_b + ".tmp")  # as a run stopped between the output's rename and its rows'
    r = E("--output-dir", out, *abc)
    check("rows not committed: that input is computed again, the others skipped",
          r.returncode == 0 and r.stderr.count("skipped '") == 2 and "computing" in r.stderr and "b.npy" in r.stderr,
          r.stderr)
    check("rows not committed: repaired, no temporary files left",
          complete(out) and os.path.isfile(rows_b) and not tmp_files(out), str(tmp_files(out)))
    with open(os.path.join(out, "mine.npy"), "wb") as f:
        f.write(b"a file of the user's")
    clips(p("mine.npy"), 1)
    r = E("--output-dir", out, p("mine.npy"))
    check("an output that exists without rows is kept and said so",
          r.returncode == 0 and "has no index rows" in r.stderr
          and open(os.path.join(out, "mine.npy"), "rb").read() == b"a file of the user's", r.stderr)
    r = E("--output-dir", out, "--overwrite", p("a.npy"))
    check("--overwrite of one input: the others' rows stay", r.returncode == 0 and complete(out), r.stderr)

    # --- an index written before rows were kept per output is adopted, not lost
    out = p("adopt")
    r = E("--output-dir", out, *abc)
    shutil.rmtree(os.path.join(out, ".r2plus1d-extract"), ignore_errors=True)
    r = E("--output-dir", out, *abc)
    check("an index without rows files: its rows adopted, nothing recomputed",
          r.returncode == 0 and r.stderr.count("skipped '") == 3 and complete(out), r.stderr)

    # --- output names never collide with the index; its quoting is read back
    out = p("names")
    clips(p("index.npy"), 2, seed=9)
    clips(p("index.0-of-1.npy"), 1, seed=8)
    odd = p('new\nline, "quoted".npy')
    clips(odd, 2, seed=7)
    for rerun in (False, True):
        args = ["--format", "csv", "--output-dir", out, p("index.npy"), odd] + (["--overwrite"] if rerun else [])
        r = E(*args)
        check("input index.npy --format csv%s: exit 0" % (" --overwrite" if rerun else ""), r.returncode == 0, r.stderr)
        rows = index_rows(out) or []
        check("input index.npy: the index is an index%s" % (" after --overwrite" if rerun else ""),
              len(rows) == 4 and {r_["video"] for r_ in rows} == {p("index.npy"), odd}, str(rows))
        feats = np.loadtxt(os.path.join(out, "index.npy.csv"), delimiter=",", ndmin=2, skiprows=1) \
            if os.path.exists(os.path.join(out, "index.npy.csv")) else np.zeros((0, 0))
        check("input index.npy: its features in index.npy.csv", feats.shape == (2, 512), str(feats.shape))
    r = E("--format", "csv", "--output-dir", out, odd)
    rows = index_rows(out) or []
    check("a path with a newline, comma and quotes: no duplicate rows on a rerun",
          r.returncode == 0 and len(rows) == 4 and sum(r_["video"] == odd for r_ in rows) == 2, str(rows))
    r = E("--format", "csv", "--shard", "0/1", "--output-dir", out, p("index.0-of-1.npy"))
    rows = index_rows(out, "index.0-of-1.csv") or []
    check("input index.0-of-1.npy with --shard 0/1: the shard's index is an index",
          r.returncode == 0 and len(rows) == 1 and (rows[0].get("output") or "").endswith("index.0-of-1.npy.csv"), str(rows))

    # --- clips that are not there, and a frame rate that is not a number
    out = p("bad")
    np.save(p("zero.npy"), np.zeros((0, 3, 4, 16, 16), np.float32))
    r = E("--output-dir", out, p("zero.npy"), p("a.npy"))
    check("(0, 3, T, H, W) clips: exit 3, one error line naming the file",
          r.returncode == 3 and len(errors(r)) == 1 and "zero.npy" in errors(r)[0] and "no clips" in errors(r)[0],
          r.stderr)
    check("(0, 3, T, H, W) clips: no output, not in the index",
          not os.path.exists(os.path.join(out, "zero.npy")) and len(index_rows(out) or []) == 1, str(index_rows(out)))
    r = E("--fps", "nan", "--output-dir", out, p("a.npy"))
    check("--fps nan: refused (exit 2, one error line)", r.returncode == 2 and len(errors(r)) == 1, r.stderr)

    # --- settings recorded: other settings are refused, --overwrite replaces them
    out = p("settings")
    r = E("--clip-len", "8", "--output-dir", out, p("a.npy"))
    check("settings: first run exit 0", r.returncode == 0 and os.path.isfile(os.path.join(out, ".r2plus1d-extract",
                                                                                         "settings")), r.stderr)
    stamp = os.path.getmtime(os.path.join(out, "a.npy"))
    for what, args, words in (("--clip-len", ["--clip-len", "4"], "--clip-len 8 there, 4 here"),
                              ("--logits", ["--clip-len", "8", "--logits"], "--logits no there, yes here"),
                              ("--seed (other random weights)", ["--clip-len", "8", "--seed", "5"], "--weights"),
                              ("--arch", ["--clip-len", "8", "--arch", "mc3_18"], "--arch seed there, mc3_18 here")):
        r = E(*args, "--output-dir", out, p("a.npy"), p("b.npy"))
        check("settings: other %s refused with one error line saying what differs" % what,
              r.returncode == 1 and len(errors(r)) == 1 and words in errors(r)[0] and "--overwrite" in errors(r)[0],
              r.stderr)
    check("settings: refused runs leave the outputs", os.path.getmtime(os.path.join(out, "a.npy")) == stamp
          and not os.path.exists(os.path.join(out, "b.npy")), "")
    r = E("--clip-len", "4", "--overwrite", "--output-dir", out, p("a.npy"))
    check("settings: --overwrite recomputes with the new ones", r.returncode == 0 and "new settings" in r.stderr, r.stderr)
    r = E("--clip-len", "4", "--output-dir", out, p("a.npy"))
    check("settings: then the new ones are those recorded", r.returncode == 0 and "skipped '" in r.stderr, r.stderr)

    # --- the lock: a second process on the same index is refused; shards run side by side
    out = p("lock")
    os.makedirs(os.path.join(out, ".r2plus1d-extract"), exist_ok=True)
    with open(os.path.join(out, ".r2plus1d-extract", "index.csv.lock"), "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.write("4242\n")
        held.flush()
        r = E("--output-dir", out, *abc)
        check("locked: exit 1, one error line naming the holder",
              r.returncode == 1 and len(errors(r)) == 1 and "in use" in errors(r)[0] and "4242" in errors(r)[0], r.stderr)
        check("locked: nothing computed", not os.path.exists(os.path.join(out, "a.npy")), "")
    many = []
    for i in range(12):
        many.append(p("many%02d.npy" % i))
        clips(many[-1], 6, t=8, size=32, seed=i)
    first = subprocess.Popen([exe, *NET, "--output-dir", out, *many], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lock_file = os.path.join(out, ".r2plus1d-extract", "index.csv.lock")
    for _ in range(200):
        if os.path.exists(lock_file) and open(lock_file).read().strip() == str(first.pid):
            break
        time.sleep(0.01)
    r = E("--output-dir", out, *many)
    running = first.poll() is None
    first.communicate()
    if running:
        check("two processes on one --output-dir: the second refused", r.returncode == 1 and "in use" in r.stderr, r.stderr)
    check("two processes on one --output-dir: the first done, no duplicate rows",
          first.returncode == 0 and len(index_rows(out) or []) == 72, str(len(index_rows(out) or [])))
    shards = [subprocess.Popen([exe, *NET, "--quiet", "--shard", "%d/2" % k, "--output-dir", p("shards"), *many],
                               stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for k in (0, 1)]
    outs = [s.communicate()[1] for s in shards]
    check("two shards side by side in one --output-dir: both exit 0",
          all(s.returncode == 0 for s in shards), str(outs))
    check("two shards: 36 rows each", [len(index_rows(p("shards"), "index.%d-of-2.csv" % k) or []) for k in (0, 1)]
          == [36, 36], "")

    # --- a read-only output directory is refused at start, before any input runs
    ro = p("readonly")
    os.makedirs(ro)
    mounted = os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", ro],
                                                   capture_output=True).returncode == 0
    if not mounted and os.geteuid() != 0:
        os.chmod(ro, 0o555)
    if mounted or os.geteuid() != 0:
        r = E("--output-dir", ro, *many)
        check("read-only --output-dir: exit 1 with one error line, at start",
              r.returncode == 1 and len(errors(r)) == 1 and "cannot write" in errors(r)[0] and " done" not in r.stderr,
              r.stderr)
    else:
        print("skip read-only --output-dir: cannot mount a read-only tmpfs")
    if mounted:
        subprocess.run(["umount", ro], capture_output=True)

    # --- a full disk: never exit 0 with an output or its rows missing; the next run completes
    fs = Tmpfs(p("tmpfs"), 512)
    if not fs.ok:
        print("skip full disk: needs root and mount -t tmpfs")
    try:
        for fmt in ("npy", "csv", "jsonl") if fs.ok else ():
            silent, said, index_err = [], True, False
            for free in range(0, 12):
                out = os.path.join(fs.path, "out")
                shutil.rmtree(out, ignore_errors=True)
                fs.leave(free)
                r = E("--format", fmt, "--output-dir", out, *abc)
                if r.returncode == 0 and not complete(out, fmt=fmt):
                    silent.append(free)
                if r.returncode != 0 and not any("(No space left on device)" in l for l in errors(r)):
                    said = False
                    print(r.stderr)
                index_err |= r.returncode == 1 and any("index:" in l for l in errors(r))
                left = tmp_files(out) if os.path.isdir(out) else []
                if left:
                    silent.append("tmp %s" % left)
                fs.unfill()
                r = E("--format", fmt, "--output-dir", out, *abc)
                if r.returncode != 0 or not complete(out, fmt=fmt):
                    silent.append("rerun %d: %s" % (free, r.stderr))
            check("full disk, --format %s: never exit 0 with outputs or rows missing, no .tmp left, the rerun "
                  "completes" % fmt, not silent, str(silent))
            check("full disk, --format %s: each failure says the OS error" % fmt, said, "")
            check("full disk, --format %s: a failed index write is exit 1" % fmt, index_err, "")
        # --overwrite on a nearly full disk: the index is whole (old or new), never cut. One class
        # score per clip: the outputs take a page each, the index (90 rows) two.
        if fs.ok:
            shutil.rmtree(os.path.join(fs.path, "out"), ignore_errors=True)
            out = os.path.join(fs.path, "big")
            big = [p("big%d.npy" % i) for i in range(3)]
            for i, b in enumerate(big):
                clips(b, 30, t=2, size=8, seed=20 + i)
            one = ["--logits", "--num-classes", "1", "--output-dir", out]
            r = E(*one, *big)
            whole = index_rows(out) or []
            check("--overwrite on a full disk: the first run has 90 rows", r.returncode == 0 and len(whole) == 90, r.stderr)
            cut = []
            for free in range(0, 10):
                fs.leave(free)
                r = E("--overwrite", *one, *big)
                rows = index_rows(out) or []
                if len(rows) != 90 or any(None in row.values() or "" in (row["video"], row["clip"]) for row in rows):
                    cut.append((free, len(rows)))
                if r.returncode == 0 and len(rows) != 90:
                    cut.append((free, "exit 0"))
                fs.unfill()
            check("--overwrite on a full disk: the index is never cut", not cut, str(cut))
    finally:
        fs.close()

    # --- the index's columns: a clip's first and last frames, times and rate, empty for .npy clips
    out = p("columns")
    r = E("--output-dir", out, *abc)
    with open(os.path.join(out, "index.csv"), newline="") as f:
        header = f.readline().strip()
    check("index.csv header: video,output,clip,start_frame,start_time,end_frame,end_time,fps",
          header == "video,output,clip,start_frame,start_time,end_frame,end_time,fps", header)
    rows = index_rows(out) or []
    check(".npy clips: the frame, time and fps fields empty", len(rows) == 6 and all(
        r_[k] == "" for r_ in rows for k in ("start_frame", "start_time", "end_frame", "end_time", "fps")), str(rows))

    # --- --format csv: a header line naming the columns; the rows read back as the .npy's
    out_csv = p("csv_header")
    r = E("--format", "csv", "--output-dir", out_csv, *abc)
    with open(os.path.join(out_csv, "c.csv")) as f:
        lines = f.read().splitlines()
    check("--format csv: exit 0, a header f0..f511 then one line per clip",
          r.returncode == 0 and lines[0] == ",".join("f%d" % k for k in range(512)) and len(lines) == 4, lines[0][:80])
    t = np.loadtxt(os.path.join(out_csv, "c.csv"), delimiter=",", ndmin=2, skiprows=1)
    check("--format csv: the rows equal the .npy's", t.shape == (3, 512) and
          np.array_equal(t.astype(np.float32), np.load(os.path.join(out, "c.npy"))), str(t.shape))
    r = E("--format", "csv", "--logits", "--num-classes", "3", "--output-dir", p("csv_logits"), p("a.npy"))
    with open(p("csv_logits", "a.csv")) as f:
        first = f.readline().strip()
    check("--format csv --logits: the header names logit0..", r.returncode == 0 and first == "logit0,logit1,logit2",
          first)
    r = E("--merge", out_csv, "--format", "csv", *abc)
    check("--merge of --format csv outputs: exit 0, the header not counted as a clip",
          r.returncode == 0 and "3 complete" in r.stderr and "index.csv has 6 row(s)" in r.stderr, r.stderr)
    with open(os.path.join(out_csv, "b.csv"), "a") as f:
        f.write(",".join(["0"] * 512) + "\n")
    r = E("--merge", out_csv, "--format", "csv", *abc)
    check("--merge: a csv output with a row more than its index rows is failed (exit 3)",
          r.returncode == 3 and "b.csv' holds 3 clip(s) but its index rows 2" in r.stderr, r.stderr)
    with open(os.path.join(out_csv, "a.csv"), "w") as f:  # an output of an earlier version: no header
        f.write(",".join(["0.5"] * 512) + "\n")
    r = E("--merge", out_csv, "--format", "csv", p("a.npy"))
    check("--merge: a csv output without a header (an earlier version's) still counts its rows",
          r.returncode == 0 and "1 complete" in r.stderr, r.stderr)

    # --- --format jsonl: one object per clip, the values of the .npy outputs and of the index rows
    out_j = p("jsonl")
    r = E("--format", "jsonl", "--output-dir", out_j, *abc)
    check("--format jsonl: exit 0, one .jsonl per input", r.returncode == 0 and all(
        os.path.isfile(os.path.join(out_j, n + ".jsonl")) for n in "abc"), r.stderr)
    rows = index_rows(out_j) or []
    ok, why = len(rows) == 6, str(len(rows))
    for n, path in zip("abc", abc):
        objs = jsonl(os.path.join(out_j, n + ".jsonl"))
        want = np.load(os.path.join(out, n + ".npy"))
        mine = [r_ for r_ in rows if r_["video"] == path]
        if len(objs) != want.shape[0] or len(mine) != len(objs):
            ok, why = False, "%s: %d objects, %d rows" % (n, len(objs), want.shape[0])
            continue
        for k, o in enumerate(objs):
            if list(o) != ["input", "clip", "start_frame", "end_frame", "start_time", "end_time", "fps", "features"]:
                ok, why = False, str(list(o))
            elif o["input"] != path or o["clip"] != k or str(o["clip"]) != mine[k]["clip"] or \
                    mine[k]["output"] != os.path.join(out_j, n + ".jsonl"):
                ok, why = False, "%s %s" % (o["input"], mine[k])
            elif any(o[f] is not None for f in ("start_frame", "end_frame", "start_time", "end_time", "fps")):
                ok, why = False, "non-null frame fields for .npy clips: %s" % o
            elif not np.array_equal(np.array(o["features"], np.float32), want[k]):
                ok, why = False, "%s clip %d: features differ from the .npy's" % (n, k)
    check("--format jsonl: every line an object whose input, clip and features are the .npy's and the index's",
          ok, why)
    r = E("--merge", out_j, "--format", "jsonl", *abc)
    check("--merge of --format jsonl outputs: exit 0, all complete",
          r.returncode == 0 and "3 complete" in r.stderr and "index.csv has 6 row(s)" in r.stderr, r.stderr)
    with open(os.path.join(out_j, "c.jsonl"), "rb+") as f:
        f.truncate(os.path.getsize(os.path.join(out_j, "c.jsonl")) - 10)
    with open(os.path.join(out_j, "b.jsonl"), "a") as f:
        f.write("not json\n")
    r = E("--merge", out_j, "--format", "jsonl", *abc)
    check("--merge: a cut and a damaged jsonl output are failed (exit 3)", r.returncode == 3 and
          "c.jsonl' ends inside a line" in r.stderr and "b.jsonl' line 3: not JSON" in r.stderr, r.stderr)

    r = E("--format", "jsonl", "--topk", "2", "--logits", "--num-classes", "4", "--output-dir", p("jsonl_top"),
          p("b.npy"))
    r2 = E("--logits", "--num-classes", "4", "--output-dir", p("npy_top"), p("b.npy"))
    objs = jsonl(p("jsonl_top", "b.jsonl")) if r.returncode == 0 else []
    want = np.load(p("npy_top", "b.npy")) if r2.returncode == 0 else np.zeros((0, 4))
    ok = len(objs) == 2 and want.shape == (2, 4)
    for o, w in zip(objs, want):
        pr = np.exp(w.astype(np.float64) - w.max())
        pr /= pr.sum()
        order = np.argsort(-w)[:2]
        ok &= "features" not in o and np.array_equal(np.array(o["logits"], np.float32), w)
        ok &= [t["index"] for t in o["topk"]] == list(order) and [t["label"] for t in o["topk"]] == \
            ["class %d" % c for c in order] and np.allclose([t["prob"] for t in o["topk"]], pr[order], rtol=1e-6)
    check("--format jsonl --topk 2 --logits: the top 2 classes with their softmax probabilities, and the logits",
          ok, str(objs)[:300])
    r = E("--format", "jsonl", "--topk", "3", "--num-classes", "4", "--output-dir", p("jsonl_topk"), p("a.npy"))
    objs = jsonl(p("jsonl_topk", "a.jsonl")) if r.returncode == 0 else []
    check("--format jsonl --topk 3 alone: three classes, no logits, no features",
          len(objs) == 1 and len(objs[0]["topk"]) == 3 and "logits" not in objs[0] and "features" not in objs[0],
          str(objs)[:300])

    # --- a path with quotes, a backslash, a newline and bytes that are not UTF-8 stays valid JSON
    odd_j = p('q"uo\\te\nline\tx.npy')
    raw = os.fsencode(p("raw")) + b"\xff\xfe.npy"
    clips(odd_j, 1, seed=4)
    clips(os.fsdecode(raw), 1, seed=5)
    r = E("--format", "jsonl", "--output-dir", p("jsonl_odd"), odd_j, os.fsdecode(raw))
    names = sorted(n for n in os.listdir(p("jsonl_odd")) if n.endswith(".jsonl")) if r.returncode == 0 else []
    try:
        objs = {os.path.basename(o["input"]): o for n in names for o in jsonl(p("jsonl_odd", n))}
        ok = r.returncode == 0 and len(names) == 2 and objs.get(os.path.basename(odd_j), {}).get("input") == odd_j \
            and objs.get("raw\ufffd\ufffd.npy") is not None
    except ValueError as e:
        ok, objs = False, str(e)
    check("--format jsonl: an input with quotes, a backslash, control characters and non-UTF-8 bytes: valid JSON "
          "(the bytes as U+FFFD)", ok, "%s %s" % (r.stderr, objs))

    # --- an output directory of an earlier version (index and rows in five fields) resumes
    out = p("old_index")
    r = E("--output-dir", out, *abc)
    old = "video,output,clip,start_frame,start_time"

    def five(path):
        with open(path, newline="") as f:
            recs = list(csv.reader(f))
        with open(path, "w", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows([old.split(",")] + [rec[:5] for rec in recs[1:]])
    five(os.path.join(out, "index.csv"))
    rows_dir = os.path.join(out, ".r2plus1d-extract", "rows")
    for n in os.listdir(rows_dir):
        five(os.path.join(rows_dir, n))
    r = E("--output-dir", out, *abc)
    rows = index_rows(out) or []
    check("five-field index and rows (an earlier version's): resumed, nothing recomputed, the index in eight fields",
          r.returncode == 0 and r.stderr.count("skipped '") == 3 and complete(out) and
          list(rows[0]) == ["video", "output", "clip", "start_frame", "start_time", "end_frame", "end_time", "fps"],
          r.stderr + str(rows[:1]))
    r = E("--merge", out, *abc)
    check("five-field rows: --merge counts them", r.returncode == 0 and "3 complete" in r.stderr, r.stderr)
    shutil.rmtree(rows_dir)
    five(os.path.join(out, "index.csv"))
    r = E("--output-dir", out, *abc)
    check("five-field index without rows files: adopted, nothing recomputed",
          r.returncode == 0 and r.stderr.count("skipped '") == 3 and complete(out) and
          os.path.isfile(os.path.join(rows_dir, "b.npy.csv")), r.stderr)
    r = E("--format", "json", "--output-dir", p("bad_format"), p("a.npy"))
    check("--format json: refused, one error line naming the formats",
          r.returncode == 1 and len(errors(r)) == 1 and "npy, csv or jsonl" in errors(r)[0], r.stderr)

    # --- directories are read recursively, keeping the tree in the output names
    coll = p("coll")
    os.makedirs(os.path.join(coll, "sub"))
    y4m(os.path.join(coll, "y.y4m"), 4)
    y4m(os.path.join(coll, "sub", "y.y4m"), 4)
    out = p("tree")
    r = E("--clip-len", "4", "--output-dir", out, coll)
    if "without FFmpeg" in r.stderr:
        print("skip recursive directories: built without FFmpeg")
    else:
        rows = index_rows(out) or []
        check("recursive directory: exit 0, both videos", r.returncode == 0 and len(rows) == 2, r.stderr)
        check("recursive directory: y.npy and sub/y.npy", os.path.isfile(os.path.join(out, "y.npy"))
              and os.path.isfile(os.path.join(out, "sub", "y.npy")), str(rows))

    return summary()


if __name__ == "__main__":
    sys.exit(main())
