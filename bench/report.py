#!/usr/bin/env python3
"""Runs r2plus1d_bench once and prints the results table: every benchmark's
GFLOP/s and its fraction of the reference sgemm measured in the same run at
the same thread count, per-clip times of the networks, and (with --torch) the
same clip through PyTorch side by side. With repetitions, every benchmark runs
that many times in random interleaved order; the table gives each one's median
and, beside it, the ratio of the fastest repetitions (the benchmark's fastest
against sgemm's fastest): a shared machine only ever slows a run down, so the
fastest repetition is the one least disturbed. With --paired, every
benchmark runs in a binary run of its own beside the sgemm reference at its
thread count (their repetitions interleaved), and is divided by that sgemm:
each ratio then comes from a few seconds of the machine, not from the whole
report's minutes, which a host whose speed drifts needs.

    python3 bench/report.py --build build [--torch] [--paired] [--write bench/README.md]

--write replaces the text between the RESULTS markers of that file."""

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


CONTEXT = {}  # the last run's context: the machine, and the convolution kernels it ran on


def run_bench(exe, filt, min_time, repetitions):
    """Every benchmark's result as (median row, fastest row). With
    repetitions > 1, the repetitions of all benchmarks run in random
    interleaved order, so that a drift of the machine's speed reaches the sgemm
    reference and the networks alike."""
    cmd = [exe, "--benchmark_format=json", "--benchmark_filter=" + filt]
    if min_time:
        cmd.append("--benchmark_min_time=%g" % min_time)
    if repetitions > 1:
        cmd += ["--benchmark_repetitions=%d" % repetitions, "--benchmark_enable_random_interleaving=true"]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    CONTEXT.update(out.get("context", {}))
    runs = {}
    for r in out["benchmarks"]:
        if r.get("run_type", "iteration") == "iteration":
            runs.setdefault(r.get("run_name", r["name"]), []).append(r)
    rows = []
    for name, reps in runs.items():
        reps.sort(key=lambda r: r["real_time"])
        median = dict(reps[(len(reps) - 1) // 2] if len(reps) % 2 else reps[len(reps) // 2 - 1])
        if len(reps) % 2 == 0:  # the mean of the middle two, as Google Benchmark's median
            hi = reps[len(reps) // 2]
            median["real_time"] = (median["real_time"] + hi["real_time"]) / 2
            if "FLOP/s" in median:
                median["FLOP/s"] = (median["FLOP/s"] + hi["FLOP/s"]) / 2
        median["name"] = name
        rows.append((median, reps[0]))
    # back in the binary's order (interleaving shuffles them)
    rows.sort(key=lambda p: (p[0].get("family_index", 0), p[0].get("per_family_instance_index", 0)))
    return rows


def threads_of(name):
    m = re.search(r"threads:(\d+)", name)
    return int(m.group(1)) if m else None


def exact(name):
    """A benchmark filter matching `name` alone (a regular expression)."""
    return "^" + re.sub(r"([.^$|?*+()\[\]{}\\])", r"\\\1", name) + "$"


def run_paired(exe, filt, min_time, repetitions):
    """run_bench's rows, each benchmark from a run of its own beside the sgemm
    at its thread count: (median, fastest, sgemm median, sgemm fastest)."""
    listed = subprocess.run([exe, "--benchmark_list_tests", "--benchmark_filter=" + filt], check=True,
                            capture_output=True, text=True).stdout.splitlines()
    sgemm_names = {threads_of(n): n for n in listed if n.startswith("sgemm")}
    out = []
    for name in listed:
        if name.startswith("sgemm"):
            continue
        ref = sgemm_names.get(threads_of(name))
        if ref is None:
            sys.exit("report: no sgemm benchmark at the thread count of %s" % name)
        rows = run_bench(exe, exact(ref) + "|" + exact(name), min_time, repetitions)
        own = [p for p in rows if not p[0]["name"].startswith("sgemm")]
        ref_rows = [p for p in rows if p[0]["name"].startswith("sgemm")]
        if len(own) != 1 or len(ref_rows) != 1:
            sys.exit("report: running %s beside %s gave %d and %d results" % (name, ref, len(own), len(ref_rows)))
        out.append(own[0] + (ref_rows[0][0]["FLOP/s"], ref_rows[0][1]["FLOP/s"]))
    return out, sgemm_names


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="CMake build directory holding bench/r2plus1d_bench")
    ap.add_argument("--filter", default=".", help="benchmark regex (the sgemm reference always runs)")
    ap.add_argument("--min-time", type=float, default=0.5, help="seconds per benchmark")
    ap.add_argument("--repetitions", type=int, default=3,
                    help="interleaved repetitions of every benchmark; the table gives medians and the fastest")
    ap.add_argument("--paired", action="store_true",
                    help="each benchmark in a run of its own beside sgemm, and divided by that sgemm")
    ap.add_argument("--torch", action="store_true", help="also run bench/compare_pytorch.py")
    ap.add_argument("--write", default=None, help="markdown file whose RESULTS section to replace")
    a = ap.parse_args()

    exe = os.path.join(a.build, "bench", "r2plus1d_bench")
    if not os.path.exists(exe):
        sys.exit("report: %s not found; build with -DR2PLUS1D_BUILD_BENCH=ON first" % exe)
    if a.paired:
        paired, _ = run_paired(exe, "sgemm|" + a.filter, a.min_time, a.repetitions)
        rows = [(r, b) for r, b, _, _ in paired]
        reference = [(s_med, s_best) for _, _, s_med, s_best in paired]
        # the sgemm lines: medians over the runs of each thread count
        for t in sorted({threads_of(r["name"]) for r, _ in rows}, reverse=True):
            meds = sorted(m for (r, _), (m, _) in zip(rows, reference) if threads_of(r["name"]) == t)
            bests = sorted(b for (r, _), (_, b) in zip(rows, reference) if threads_of(r["name"]) == t)
            row = {"name": "sgemm/n:1024/threads:%d" % t, "FLOP/s": meds[len(meds) // 2], "time_unit": "ms",
                   "real_time": 2.0 * 1024 ** 3 / meds[len(meds) // 2] * 1e3}
            rows.insert(0, (row, dict(row, **{"FLOP/s": bests[-1]})))
            reference.insert(0, (row["FLOP/s"], bests[-1]))
        rows_ref = reference
    else:
        rows = run_bench(exe, "sgemm|" + a.filter, a.min_time, a.repetitions)
        sgemm = {threads_of(r["name"]): r["FLOP/s"] for r, _ in rows if r["name"].startswith("sgemm")}
        sgemm_best = {threads_of(r["name"]): b["FLOP/s"] for r, b in rows if r["name"].startswith("sgemm")}
        nan = float("nan")
        rows_ref = [(sgemm.get(threads_of(r["name"]), nan), sgemm_best.get(threads_of(r["name"]), nan))
                    for r, _ in rows]

    lines = []
    runs = ("r2plus1d_bench, one run" if a.repetitions <= 1 else
            "r2plus1d_bench, %d interleaved repetitions: medians, and the fastest against the fastest" % a.repetitions)
    lines.append("Machine: %s, %d logical CPUs; %s; %s convolution kernels; %s"
                 % (cpu_name(), os.cpu_count() or 0, datetime.date.today().isoformat(),
                    CONTEXT.get("conv_kernels", "unknown"), runs)
                 + ("; each benchmark beside its own sgemm run (sgemm lines: the median of those runs, "
                    "and their fastest)" if a.paired else ""))
    lines.append("")
    lines.append("| benchmark | threads | time (ms) | GFLOP/s | of sgemm | fastest, of fastest sgemm |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    per_clip, per_clip_best = {}, {}
    for (r, best), (ref, ref_best) in zip(rows, rows_ref):
        name = r["name"].replace("/real_time", "")
        t = threads_of(name)
        base = re.sub(r"/(threads|batch|min_time):[^/]*", "", name)
        gf = r.get("FLOP/s", 0.0) / 1e9
        frac = r["FLOP/s"] / ref if "FLOP/s" in r else float("nan")
        frac_best = best["FLOP/s"] / ref_best if "FLOP/s" in best else float("nan")
        to_ms = (lambda v: v) if r.get("time_unit") == "ms" else (lambda v: v / 1e6)
        ms = to_ms(r["real_time"])
        extra = ""
        m = re.search(r"batch:(\d+)", name)
        if m:
            b = int(m.group(1))
            per_clip[(base, b, t)] = ms / b
            per_clip_best[(base, b, t)] = to_ms(best["real_time"]) / b
            extra = " (%.0f ms/clip, batch %d)" % (ms / b, b)
        lines.append("| %s%s | %s | %.2f | %.1f | %.2f | %.2f |" % (base, extra, t, ms, gf, frac, frac_best))
    if per_clip:
        lines.append("")
        for (base, b, t), v in sorted(per_clip.items()):
            if b != 1 and (base, 1, t) in per_clip:
                lines.append("- %s, %d threads: batch %d is %.2fx the per-clip time of batch 1 (medians; "
                             "fastest repetitions: %.2fx)" % (base, t, b, v / per_clip[(base, 1, t)],
                                                              per_clip_best[(base, b, t)] / per_clip_best[(base, 1, t)]))
    text = "\n".join(lines)
    if a.torch:
        here = os.path.dirname(os.path.abspath(__file__))
        cmp_out = subprocess.run([sys.executable, os.path.join(here, "compare_pytorch.py"), "--build", a.build],
                                 capture_output=True, text=True)
        text += "\n\n" + cmp_out.stdout.strip() + ("\n" + cmp_out.stderr.strip() if cmp_out.returncode else "")
    print(text)
    if a.write:
        doc = open(a.write).read()
        begin, end = "<!-- RESULTS BEGIN -->", "<!-- RESULTS END -->"
        if begin not in doc or end not in doc:
            sys.exit("report: %s has no RESULTS markers" % a.write)
        head, rest = doc.split(begin, 1)
        _, tail = rest.split(end, 1)
        open(a.write, "w").write(head + begin + "\n" + text + "\n" + end + tail)


if __name__ == "__main__":
    main()
