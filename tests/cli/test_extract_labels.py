"""r2plus1d-extract --labels on small .npy clips of a random seed classifier:
the evaluation (clip and video top-1 / top-5, per class, most confused pairs)
against the same figures computed here from the scores the run wrote; the
same labels given as a 0-based list, UCF101's trainlist and testlist with
classInd.txt, and a directory of class folders; a resumed run, --video-level,
shards merged with --merge; and bad labels (one error line, exit 1). Prints
'N passed, N failed' and exits non-zero on any failure."""

import json
import os
import sys

import numpy as np

from cli_harness import check, parse_args, run, summary

NET = ["--layers", "1,1,1,1", "--num-classes", "3", "--threads", "1", "--quiet"]
CLASSES = ["Apply", "Brush", "Cut"]
# (class folder, file, clips, label)
VIDEOS = [("Apply", "a1", 2, 0), ("Brush", "b1", 3, 1), ("Cut", "c1", 1, 2), ("Apply", "a2", 2, 0),
          ("Brush", "b2", 2, 1), ("Cut", "c2", 3, 2)]


def softmax(x):
    e = np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def expected(rows_of, video_level=False):
    """The evaluation of {video: (rows, 3) scores} as the tool defines it."""
    clips = c1 = c5 = v1 = v5 = 0
    per = {}
    confused = {}
    for (_, name, _, label) in VIDEOS:
        rows = rows_of[name]
        if not video_level:
            for r in rows:
                rank = int((r > r[label]).sum())
                clips += 1
                c1 += rank < 1
                c5 += rank < 5
        mean = rows[0].astype(np.float64) if video_level else softmax(rows).mean(axis=0)
        m = mean.astype(np.float32)
        rank = int((m > m[label]).sum())
        v1 += rank < 1
        v5 += rank < 5
        n, right = per.get(label, (0, 0))
        per[label] = (n + 1, right + (rank < 1))
        if rank >= 1:
            key = (label, int(np.argmax(m)))
            confused[key] = confused.get(key, 0) + 1
    out = {"videos": len(VIDEOS), "video_top1": v1 / len(VIDEOS), "video_top5": v5 / len(VIDEOS),
           "per_class": {k: right / n for k, (n, right) in per.items()}, "confused": confused}
    if not video_level:
        out.update(clips=clips, clip_top1=c1 / clips, clip_top5=c5 / clips)
    return out


def same(got, want):
    if got.get("videos") != want["videos"]:
        return False
    for k in ("video_top1", "video_top5", "clip_top1", "clip_top5"):
        if (k in want) != (k in got) or (k in want and abs(got[k] - want[k]) > 1e-12):
            return False
    per = {c["label"]: c["top1"] for c in got["per_class"]}
    conf = {(c["label"], c["predicted"]): c["videos"] for c in got["most_confused"]}
    names_ok = all(c["name"] == CLASSES[c["label"]] for c in got["per_class"])
    return per == want["per_class"] and conf == want["confused"] and names_ok


def load_eval(path):
    with open(path) as f:
        return json.load(f)


def main():
    a = parse_args()
    exe, work = a.exe, os.path.abspath(a.work)
    p = lambda *f: os.path.join(work, *f)  # noqa: E731
    rng = np.random.default_rng(0)
    for i, (cls, name, n, _) in enumerate(VIDEOS):
        os.makedirs(p("ucf", cls), exist_ok=True)
        # Clips far apart in scale, so the random head scores them differently.
        x = rng.standard_normal((n, 3, 4, 24, 24)).astype(np.float32) * (1 + 3 * i)
        np.save(p("ucf", cls, name + ".npy"), x)
    with open(p("ucf", "classInd.txt"), "w") as f:
        f.write("".join("%d %s\n" % (k + 1, c) for k, c in enumerate(CLASSES)))
    with open(p("ucf", "trainlist.txt"), "w") as f:
        f.write("".join("%s/%s.npy %d\n" % (c, n, l + 1) for c, n, _, l in VIDEOS))
    with open(p("ucf", "testlist.txt"), "w") as f:
        f.write("".join("%s/%s.npy\n" % (c, n) for c, n, _, _ in VIDEOS))
    os.makedirs(p("plain"))
    with open(p("plain", "labels.txt"), "w") as f:  # 0-based, paths relative to the list's folder
        f.write("# video label\n" + "".join("../ucf/%s/%s.npy %d\n" % (c, n, l) for c, n, _, l in VIDEOS))

    r = run(exe, *NET, "--labels", p("ucf", "trainlist.txt"), "--output-dir", p("out"))
    check("--labels trainlist with classInd: exit 0", r.returncode == 0, r.stderr)
    check("... summary on stderr", "evaluation: 6 video(s), 13 clip(s): video top-1" in r.stderr, r.stderr)
    rows = {n: np.load(p("out", n + ".npy")) for _, n, _, _ in VIDEOS}
    check("... outputs are (clips, 3) scores", all(rows[n].shape == (k, 3) for _, n, k, _ in VIDEOS))
    want = expected(rows)
    got = load_eval(p("out", "evaluation.json")) if os.path.exists(p("out", "evaluation.json")) else {}
    check("evaluation.json equals the figures of the scores written", same(got, want), json.dumps(got) + str(want))
    check("... and the run is not trivially right or wrong", 0 < want["clip_top1"] < 1, str(want))

    for what, args in (("testlist (class from the folder)", ["--labels", p("ucf", "testlist.txt")]),
                       ("a 0-based list", ["--labels", p("plain", "labels.txt")]),
                       ("a directory of class folders", ["--labels", p("ucf")]),
                       ("classInd given", ["--labels", p("ucf", "trainlist.txt"), "--class-index",
                                           p("ucf", "classInd.txt")])):
        out = p("out_" + str(abs(hash(what)) % 10000))
        r = run(exe, *NET, *args, "--output-dir", out)
        check("%s: exit 0" % what, r.returncode == 0, r.stderr)
        got = load_eval(os.path.join(out, "evaluation.json")) if r.returncode == 0 else {}
        if what == "a 0-based list":  # no class names: the names are the labels
            for c in got.get("per_class", []):
                c["name"] = CLASSES[c["label"]]
        check("%s: the same evaluation" % what, same(got, want), json.dumps(got))

    for fmt in ("csv", "jsonl"):
        for extra in ([], ["--topk", "2"]):
            out = p("out_%s%s" % (fmt, "_topk" if extra else ""))
            r = run(exe, *NET, "--format", fmt, *extra, "--labels", p("ucf", "trainlist.txt"), "--output-dir", out)
            got = load_eval(os.path.join(out, "evaluation.json")) if r.returncode == 0 else {}
            check("--format %s%s: the same evaluation, read back from its outputs" % (fmt, " --topk 2" if extra else ""),
                  r.returncode == 0 and same(got, want), r.stderr + json.dumps(got))

    r = run(exe, *NET, "--labels", p("ucf", "trainlist.txt"), "--output-dir", p("out"))
    check("a resumed run (all skipped) evaluates the outputs there", r.returncode == 0 and
          same(load_eval(p("out", "evaluation.json")), want), r.stderr)

    r = run(exe, *NET, "--video-level", "--labels", p("ucf", "trainlist.txt"), "--output-dir", p("out_video"))
    check("--video-level --labels: exit 0", r.returncode == 0, r.stderr)
    if r.returncode == 0:
        vrows = {n: np.load(p("out_video", n + ".npy")) for _, n, _, _ in VIDEOS}
        got = load_eval(p("out_video", "evaluation.json"))
        check("--video-level: the video figures, no clip figures", same(got, expected(vrows, True)), json.dumps(got))
        check("--video-level: same video top-1 as the clip-level run",
              abs(got["video_top1"] - want["video_top1"]) < 1e-12, json.dumps(got))

    for k in (0, 1):
        r = run(exe, *NET, "--shard", "%d/2" % k, "--labels", p("ucf", "trainlist.txt"), "--output-dir", p("sh"))
        check("shard %d/2 with --labels: exit 0, its own evaluation" % k,
              r.returncode == 0 and os.path.exists(p("sh", "evaluation.%d-of-2.json" % k)), r.stderr)
    r = run(exe, "--merge", p("sh"), "--labels", p("ucf", "trainlist.txt"), "--quiet")
    check("--merge --labels: exit 0, the whole evaluation", r.returncode == 0 and
          same(load_eval(p("sh", "evaluation.json")), want), r.stderr)

    # Bad labels: one error line, exit 1, nothing run.
    with open(p("ucf", "bad_label.txt"), "w") as f:
        f.write("Apply/a1.npy 1\nBrush/b1.npy 4\n")
    with open(p("ucf", "bad_class.txt"), "w") as f:
        f.write("Apply/a1.npy\nDance/d1.npy\n")
    os.makedirs(p("other"))
    np.save(p("other", "z.npy"), np.zeros((1, 3, 4, 24, 24), np.float32))
    for what, args, say in (
            ("a label past classInd", ["--labels", p("ucf", "bad_label.txt")], "line 2: label 4"),
            ("a folder that names no class", ["--labels", p("ucf", "bad_class.txt")], "'Dance'"),
            ("an input the list does not label", ["--labels", p("ucf", "trainlist.txt"), p("other", "z.npy")],
             "has no label"),
            ("a missing list", ["--labels", p("nope.txt")], "no such file"),
            ("--class-index without --labels", ["--class-index", p("ucf", "classInd.txt"), p("other", "z.npy")],
             "--class-index goes with --labels")):
        r = run(exe, *NET, *args, "--output-dir", p("bad"))
        errs = [line for line in r.stderr.splitlines() if line]
        check("%s: exit 1, one error line" % what, r.returncode == 1 and len(errs) == 1 and say in errs[0], r.stderr)
    r = run(exe, *NET, "--labels", p("ucf", "trainlist.txt"))
    check("--labels without --output-dir: exit 1", r.returncode == 1 and "--output-dir" in r.stderr, r.stderr)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
