#!/usr/bin/env python3
"""Runs r2plus1d_bench once and prints the results table: every benchmark's
GFLOP/s and its fraction of the two references measured in the same run at
the same thread count, first the CPU's fp32 FMA peak (fma_peak_bench.cpp),
then Eigen's sgemm; per-clip times of the networks; a per-layer table of
r2plus1d_18's convolutions (GFLOP/s, fraction of the peak, the algorithm or
kernel family each ran on); and (with --torch) the same clip through PyTorch
side by side. With repetitions, every benchmark runs that many times in random
interleaved order; the table gives each one's median and, beside it, the
ratios of the fastest repetitions (the benchmark's fastest against the
reference's fastest): a shared machine only ever slows a run down, so the
fastest repetition is the one least disturbed. With --paired, every
benchmark runs in a binary run of its own beside the references at its
thread count (their repetitions interleaved), and is divided by those: each
ratio then comes from a few seconds of the machine, not from the whole
report's minutes, which a host whose speed drifts needs.

    python3 bench/report.py --build build [--torch] [--paired] [--write bench/README.md]
    python3 bench/report.py --build build --layers      # the per-layer table alone

--write replaces the text between the RESULTS markers of that file."""

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys

from r2plus1d_version import r2plus1d_version


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


# The references every ratio divides by, in the table's order: the CPU's FMA
# peak first (the core's own limit), Eigen's sgemm second.
REFS = ("fma_peak", "sgemm")
REF_FILTER = "^fma_peak/|^sgemm/"


def ref_of(name):
    """The reference a benchmark name is, or None."""
    for ref in REFS:
        if name.startswith(ref + "/"):
            return ref
    return None


def run_paired(exe, filt, min_time, repetitions):
    """run_bench's rows, each benchmark from a run of its own beside the
    references at its thread count: (median, fastest, {ref: (median, fastest)})."""
    listed = subprocess.run([exe, "--benchmark_list_tests", "--benchmark_filter=" + filt], check=True,
                            capture_output=True, text=True).stdout.splitlines()
    ref_names = {(ref_of(n), threads_of(n)): n for n in listed if ref_of(n)}
    out = []
    for name in listed:
        if ref_of(name):
            continue
        refs = [ref_names.get((ref, threads_of(name))) for ref in REFS]
        if None in refs:
            sys.exit("report: no %s benchmark at the thread count of %s" % (REFS[refs.index(None)], name))
        rows = run_bench(exe, "|".join(exact(n) for n in refs + [name]), min_time, repetitions)
        own = [p for p in rows if not ref_of(p[0]["name"])]
        ref_rows = {ref_of(p[0]["name"]): (p[0]["FLOP/s"], p[1]["FLOP/s"]) for p in rows if ref_of(p[0]["name"])}
        if len(own) != 1 or len(ref_rows) != len(REFS):
            sys.exit("report: running %s beside %s gave %d and %d results" % (name, refs, len(own), len(ref_rows)))
        out.append(own[0] + (ref_rows,))
    return out


def layer_table(rows, rows_ref):
    """The per-layer lines: every conv benchmark r2plus1d_18 runs (its
    r2plus1d_18_uses counter > 0), with its fraction of the FMA peak and of
    sgemm, the algorithm (or kernel family) it ran on, and its share of the
    network's conv time per clip."""
    convs = [(r, best, ref) for (r, best), ref in zip(rows, rows_ref)
             if r["name"].startswith("conv/") and r.get("r2plus1d_18_uses", 0) > 0]
    if not convs:
        return []
    total = {}
    for r, _, _ in convs:
        t = threads_of(r["name"])
        total[t] = total.get(t, 0.0) + r["r2plus1d_18_uses"] * ms_of(r)
    lines = ["r2plus1d_18's convolutions one by one (ops::conv3d on the layer's shape, no BN/ReLU epilogue; "
             "`uses`: occurrences per clip; `share`: uses x time over the sum of the table's uses x time at "
             "that thread count; the fastest repetition against the fastest FMA peak in the last column but one)", "",
             "| conv | uses | threads | time (ms) | GFLOP/s | of FMA peak | of sgemm | share | fastest, of fastest "
             "peak | algorithm |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r, best, ref in sorted(convs, key=lambda p: threads_of(p[0]["name"])):
        t = threads_of(r["name"])
        base = re.sub(r"/(threads|batch|min_time|real_time)[^/]*", "", r["name"])[len("conv/"):]
        uses = int(r["r2plus1d_18_uses"])
        lines.append("| %s | %d | %d | %.2f | %.1f | %.2f | %.2f | %.2f | %.2f | %s |"
                     % (base, uses, t, ms_of(r), r["FLOP/s"] / 1e9, r["FLOP/s"] / ref["fma_peak"][0],
                        r["FLOP/s"] / ref["sgemm"][0], uses * ms_of(r) / total[t],
                        best["FLOP/s"] / ref["fma_peak"][1], r.get("label", "") or "?"))
    lines.append("")
    for t in sorted(total):
        lines.append("- %d thread(s): the convs above add up to %.1f ms per clip" % (t, total[t]))
    return lines


def ms_of(r):
    return r["real_time"] if r.get("time_unit") == "ms" else r["real_time"] / 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", action="version", version="%(prog)s (r2plus1d) " + r2plus1d_version())
    ap.add_argument("--build", default="build", help="CMake build directory holding bench/r2plus1d_bench")
    ap.add_argument("--filter", default=".", help="benchmark regex (the references always run)")
    ap.add_argument("--layers", action="store_true",
                    help="only r2plus1d_18's convolutions (those --filter matches) and the references: "
                         "the per-layer table")
    ap.add_argument("--min-time", type=float, default=0.5, help="seconds per benchmark")
    ap.add_argument("--repetitions", type=int, default=3,
                    help="interleaved repetitions of every benchmark; the table gives medians and the fastest")
    ap.add_argument("--paired", action="store_true",
                    help="each benchmark in a run of its own beside the references, and divided by those")
    ap.add_argument("--torch", action="store_true", help="also run bench/compare_pytorch.py")
    ap.add_argument("--write", default=None, help="markdown file whose RESULTS section to replace")
    a = ap.parse_args()

    exe = os.path.join(a.build, "bench", "r2plus1d_bench")
    if not os.path.exists(exe):
        sys.exit("report: %s not found; build with -DR2PLUS1D_BUILD_BENCH=ON first" % exe)
    if a.layers:  # r2plus1d_18's convs; a --filter given narrows them (e.g. threads:1/)
        a.filter = "^conv/(stem|l[1-4])\\." + ("" if a.filter == "." else ".*(%s)" % a.filter)
    if a.paired:
        paired = run_paired(exe, REF_FILTER + "|" + a.filter, a.min_time, a.repetitions)
        rows = [(r, b) for r, b, _ in paired]
        rows_ref = [refs for _, _, refs in paired]
        # the reference lines: medians over the runs of each thread count (and their fastest)
        for t in sorted({threads_of(r["name"]) for r, _ in rows}, reverse=True):
            here = [refs for (r, _), refs in zip(rows, rows_ref) if threads_of(r["name"]) == t]
            summary = {}
            for ref in REFS:
                meds = sorted(x[ref][0] for x in here)
                summary[ref] = (meds[len(meds) // 2], max(x[ref][1] for x in here))
            for ref in reversed(REFS):
                med, best = summary[ref]
                name = ("sgemm/n:1024/threads:%d" if ref == "sgemm" else ref + "/threads:%d") % t
                flop = 2.0 * 1024 ** 3 if ref == "sgemm" else float("nan")
                row = {"name": name, "FLOP/s": med, "time_unit": "ms", "real_time": flop / med * 1e3}
                rows.insert(0, (row, dict(row, **{"FLOP/s": best})))
                rows_ref.insert(0, summary)
    else:
        rows = run_bench(exe, REF_FILTER + "|" + a.filter, a.min_time, a.repetitions)
        per_t = {}
        for r, b in rows:
            if ref_of(r["name"]):
                per_t.setdefault(threads_of(r["name"]), {})[ref_of(r["name"])] = (r["FLOP/s"], b["FLOP/s"])
        nan = (float("nan"), float("nan"))
        rows_ref = [{ref: per_t.get(threads_of(r["name"]), {}).get(ref, nan) for ref in REFS} for r, _ in rows]

    lines = []
    runs = ("r2plus1d_bench, one run" if a.repetitions <= 1 else
            "r2plus1d_bench, %d interleaved repetitions: medians, and the fastest against the fastest" % a.repetitions)
    lines.append("Machine: %s, %d logical CPUs; %s; %s convolution kernels; FMA peak on %s vectors; %s"
                 % (cpu_name(), os.cpu_count() or 0, datetime.date.today().isoformat(),
                    CONTEXT.get("conv_kernels", "unknown"), CONTEXT.get("fma_peak_isa", "unknown"), runs)
                 + ("; each benchmark beside its own reference runs (reference lines: the median of those runs, "
                    "and their fastest)" if a.paired else ""))
    lines.append("")
    if not a.layers:
        lines.append("| benchmark | threads | time (ms) | GFLOP/s | of FMA peak | of sgemm | fastest, of fastest peak "
                     "| fastest, of fastest sgemm |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    per_clip, per_clip_best = {}, {}
    for (r, best), ref in zip(rows, rows_ref) if not a.layers else ():
        name = r["name"].replace("/real_time", "")
        t = threads_of(name)
        base = re.sub(r"/(threads|batch|min_time):[^/]*", "", name)
        gf = r.get("FLOP/s", 0.0) / 1e9
        fracs = []
        for k in (0, 1):  # medians, then fastest against fastest
            for name_ref in REFS:
                row = r if k == 0 else best
                fracs.append(row["FLOP/s"] / ref[name_ref][k] if "FLOP/s" in row else float("nan"))
        ms = ms_of(r)
        extra = ""
        m = re.search(r"batch:(\d+)", name)
        if m:
            b = int(m.group(1))
            per_clip[(base, b, t)] = ms / b
            per_clip_best[(base, b, t)] = ms_of(best) / b
            extra = " (%.0f ms/clip, batch %d)" % (ms / b, b)
        time_text = "%.2f" % ms if ms == ms else ""
        lines.append("| %s%s | %s | %s | %.1f | %.2f | %.2f | %.2f | %.2f |" % ((base, extra, t, time_text, gf) +
                                                                          tuple(fracs)))
    if per_clip:
        lines.append("")
        for (base, b, t), v in sorted(per_clip.items()):
            if b != 1 and (base, 1, t) in per_clip:
                lines.append("- %s, %d threads: batch %d is %.2fx the per-clip time of batch 1 (medians; "
                             "fastest repetitions: %.2fx)" % (base, t, b, v / per_clip[(base, 1, t)],
                                                              per_clip_best[(base, b, t)] / per_clip_best[(base, 1, t)]))
    layers = layer_table(rows, rows_ref)
    if layers:
        lines += ([""] if lines[-1] != "" else []) + layers
    if a.layers:
        for t in sorted({threads_of(r["name"]) for r, _ in rows}):
            ref = next(x for (r, _), x in zip(rows, rows_ref) if threads_of(r["name"]) == t)
            lines.append("- %d thread(s): FMA peak %.1f GFLOP/s, sgemm %.1f GFLOP/s (medians)"
                         % (t, ref["fma_peak"][0] / 1e9, ref["sgemm"][0] / 1e9))
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
