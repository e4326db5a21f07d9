#!/usr/bin/env python3
"""Two builds of r2plus1d_forward_timer (say, before and after a change) on the
same machine, stage by stage: the stem, layer1 to layer4 and the head of
r2plus1d_18 on one 1x3x16x112x112 clip.

On a shared machine other tenants slow runs down by tens of percent for
seconds at a time, far more than most changes are worth. So with one thread
per build (and a core for each), both builds run at the same time, each pinned
to its own core, and swap cores every round: whatever slows the machine down
slows both. With more threads than half the cores they take turns instead,
in alternating order. Each round keeps each stage's fastest pass; the figures
are the median over rounds of B's time divided by A's, and B's fastest round
divided by A's fastest (other tenants only ever slow a run down, so the
fastest is the least disturbed). Below 1, B is faster.

    python3 bench/compare_builds.py --a OLD/bench/r2plus1d_forward_timer \\
        --b build/bench/r2plus1d_forward_timer [--rounds 6] [--repeats 3] [--threads 1]"""

import argparse
import json
import os
import statistics
import subprocess
import sys

from r2plus1d_version import r2plus1d_version

STAGES = ["stem", "layer1", "layer2", "layer3", "layer4", "head"]


def command(timer, threads, repeats):
    return [timer, "--threads", str(threads), "--repeats", str(repeats), "--stages", "--no-sgemm", "--no-peak"]


def start(timer, threads, repeats, cores):
    pin = (lambda: os.sched_setaffinity(0, cores)) if cores else None
    return subprocess.Popen(command(timer, threads, repeats), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=pin)


def result(proc, timer):
    out, err = proc.communicate()
    if proc.returncode != 0:
        sys.exit("compare_builds: %s failed (exit %d): %s" % (timer, proc.returncode, err.strip()))
    try:
        stages = json.loads(out)["stages_ms"]
    except (ValueError, KeyError):
        sys.exit("compare_builds: %s printed no stage times (a timer without --stages?)" % timer)
    best = {s: min(stages[s]) for s in STAGES}
    best["total"] = sum(best[s] for s in STAGES)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", action="version", version="%(prog)s (r2plus1d) " + r2plus1d_version())
    ap.add_argument("--a", required=True, help="the reference build's r2plus1d_forward_timer")
    ap.add_argument("--b", required=True, help="the build to compare with it")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3, help="timed passes per build per round")
    ap.add_argument("--rounds", type=int, default=6)
    a = ap.parse_args()
    for t in (a.a, a.b):
        if not os.access(t, os.X_OK):
            sys.exit("compare_builds: %s is not an executable timer" % t)
    if a.threads < 1 or a.repeats < 1 or a.rounds < 1:
        sys.exit("compare_builds: --threads, --repeats and --rounds must be positive")
    cores = sorted(os.sched_getaffinity(0))
    together = 2 * a.threads <= len(cores)
    print("r2plus1d_18, 1x3x16x112x112, %d thread(s) per build, %d rounds of %d passes, %s" %
          (a.threads, a.rounds, a.repeats,
           "both builds at once on separate cores" if together else "builds taking turns"))
    ratios = {s: [] for s in STAGES + ["total"]}
    fastest = {k: {s: float("inf") for s in ratios} for k in ("a", "b")}
    for r in range(a.rounds):
        if together:
            first, second = set(cores[:a.threads]), set(cores[a.threads:2 * a.threads])
            if r % 2:
                first, second = second, first
            pa, pb = start(a.a, a.threads, a.repeats, first), start(a.b, a.threads, a.repeats, second)
            ra, rb = result(pa, a.a), result(pb, a.b)
        else:
            order = [(a.a, "a"), (a.b, "b")] if r % 2 == 0 else [(a.b, "b"), (a.a, "a")]
            got = {}
            for timer, key in order:
                got[key] = result(start(timer, a.threads, a.repeats, None), timer)
            ra, rb = got["a"], got["b"]
        for s in ratios:
            ratios[s].append(rb[s] / ra[s])
            fastest["a"][s] = min(fastest["a"][s], ra[s])
            fastest["b"][s] = min(fastest["b"][s], rb[s])
        print("round %d: A %s | B %s (ms)" % (r + 1, " ".join("%.1f" % ra[s] for s in STAGES),
                                              " ".join("%.1f" % rb[s] for s in STAGES)))
    print()
    print("| stage | A fastest (ms) | B fastest (ms) | B / A, fastest | B / A, median of rounds | range |")
    print("|---|---:|---:|---:|---:|---:|")
    for s in STAGES + ["total"]:
        v, fa, fb = ratios[s], fastest["a"][s], fastest["b"][s]
        print("| %s | %.1f | %.1f | %.3f | %.3f | %.3f to %.3f |" %
              (s, fa, fb, fb / fa, statistics.median(v), min(v), max(v)))


if __name__ == "__main__":
    main()
