#!/usr/bin/env python3
"""Runs one 1x3x16x112x112 clip through PyTorch and through r2plus1d in the
same run, on the same CPU and thread count, and prints times and ratios.

- The PyTorch peer: torchvision's r2plus1d_18 (random weights) prepared as
  PyTorch users run CPU inference: torch.jit.trace, torch.jit.freeze and
  torch.jit.optimize_for_inference (BatchNorm folded into the convolutions,
  which run on oneDNN). Each round: one warm-up, then --repeats passes.
- r2plus1d: the same network and clip in bench/r2plus1d_bench (Google
  Benchmark, warm model), with the CPU's fp32 FMA peak and Eigen's sgemm at
  the same thread count in the same binary run. Rounds alternate: r2plus1d
  (and the references), then torch-frozen, --rounds times; every figure is the
  median over the rounds (over all passes for torch).
- Eager PyTorch (model(x) under no_grad), the way the seed's users ran it, is
  measured after the rounds as a secondary line only: it is not the fair peer
  (--no-eager leaves it out).
- r2plus1d-extract, where it is built, on the same weights and clip as a whole
  process: its features are compared with torch's and its peak resident
  memory is reported.

    python3 bench/compare_pytorch.py --build build [--threads 2] [--rounds 3] [--no-eager]

Needs PyTorch and torchvision; without them in this Python, it runs itself again
with Debian's /usr/bin/python3 where that one has them, and otherwise says so
and exits 2."""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from r2plus1d_version import r2plus1d_version
from torch_peer import freeze, import_torch

HERE = os.path.dirname(os.path.abspath(__file__))

RSS_WRAPPER = """
import os, subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
_, status, usage = os.wait4(p.pid, 0)
sys.stderr.write(p.stderr.read().decode())
print(usage.ru_maxrss)
sys.exit(0 if status == 0 else 1)
"""


def torch_or_reexec(script_name):
    """import_torch, or a one-line error and exit 2 without PyTorch."""
    try:
        return import_torch()
    except ImportError as e:
        print("%s: PyTorch is missing (%s); on Debian: apt-get install python3-torch "
              "python3-torchvision. Nothing compared." % (script_name, e), file=sys.stderr)
        sys.exit(2)


def run_bench_round(bench, threads):
    """One binary run: r2plus1d_18 at batch 1 and the references at this
    thread count. Returns (seconds per clip, conv FLOPs per clip, FMA peak
    FLOP/s, sgemm FLOP/s, FMA ISA)."""
    flt = ("^r2plus1d_18/16x112x112/batch:1/threads:%d/|^fma_peak/threads:%d/|^sgemm/threads:%d/"
           % (threads, threads, threads))
    out = json.loads(subprocess.run([bench, "--benchmark_format=json", "--benchmark_filter=" + flt,
                                     "--benchmark_min_time=0.3"], check=True, capture_output=True,
                                    text=True).stdout)
    rows = {r["name"].split("/")[0]: r for r in out["benchmarks"]}
    if set(rows) != {"r2plus1d_18", "fma_peak", "sgemm"}:
        sys.exit("compare_pytorch: %s ran %s, expected r2plus1d_18, fma_peak and sgemm" % (bench, sorted(rows)))
    ours = rows["r2plus1d_18"]
    t = ours["real_time"] / 1000.0 if ours["time_unit"] == "ms" else ours["real_time"] / 1e9
    return (t, ours["FLOP/s"] * t, rows["fma_peak"]["FLOP/s"], rows["sgemm"]["FLOP/s"],
            out.get("context", {}).get("fma_peak_isa", "?"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", action="version", version="%(prog)s (r2plus1d) " + r2plus1d_version())
    ap.add_argument("--build", default="build")
    ap.add_argument("--threads", type=int, default=2, choices=(1, 2))
    ap.add_argument("--repeats", type=int, default=3, help="torch passes per round (and eager passes)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of r2plus1d and torch-frozen")
    ap.add_argument("--no-eager", action="store_true", help="leave out eager PyTorch (the secondary line)")
    a = ap.parse_args()
    torch, tvv = torch_or_reexec("compare_pytorch")
    import numpy as np

    bench = os.path.join(a.build, "bench", "r2plus1d_bench")
    extract = os.path.join(a.build, "examples", "r2plus1d-extract")
    if not os.path.exists(bench):
        print("compare_pytorch: %s not found; build first (cmake --build %s --target r2plus1d_bench)"
              % (bench, a.build), file=sys.stderr)
        return 2

    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    model = tvv.r2plus1d_18().eval()
    x = torch.randn(1, 3, 16, 112, 112)
    with torch.no_grad():
        ref = model(x)
        want = torch.flatten(model.avgpool(model.layer4(model.layer3(model.layer2(model.layer1(model.stem(x)))))), 1)
    frozen = freeze(torch, model, x)
    with torch.no_grad():
        frozen(x)
        frozen_err = float((frozen(x) - ref).abs().max() / ref.abs().max())

    def torch_passes(m, n):
        out = []
        with torch.no_grad():
            for _ in range(n):
                t0 = time.perf_counter()
                m(x)
                out.append(time.perf_counter() - t0)
        return out

    ours, flops, peak, sgemm, frozen_s, isa = [], 0.0, [], [], [], "?"
    for _ in range(a.rounds):
        t, flops, p, s, isa = run_bench_round(bench, a.threads)
        ours.append(t)
        peak.append(p)
        sgemm.append(s)
        torch_passes(frozen, 1)  # warm-up after the other process had the cores
        frozen_s += torch_passes(frozen, a.repeats)
    eager_s = []
    if not a.no_eager:
        torch_passes(model, 1)
        eager_s = torch_passes(model, a.repeats)
    t_ours, t_frozen = statistics.median(ours), statistics.median(frozen_s)
    pk, sg = statistics.median(peak), statistics.median(sgemm)

    rss_line = "r2plus1d-extract is not built (%s): features and peak memory not checked." % extract
    if os.path.exists(extract):
        sys.path.insert(0, os.path.join(HERE, "..", "tools"))
        from convert_checkpoint import save_safetensors
        with tempfile.TemporaryDirectory() as tmp:
            w, xin, yout = (os.path.join(tmp, f) for f in ("w.safetensors", "x.npy", "y.npy"))
            save_safetensors(model.state_dict(), w)
            np.save(xin, x.numpy())
            # A child's peak RSS counts the image it was forked from, so the
            # extractor is started from a small Python without torch, which
            # reports the peak (an upper bound, by that small image's size).
            r = subprocess.run([sys.executable, "-c", RSS_WRAPPER, extract, "--arch", "r2plus1d_18", "--weights", w,
                                "--input", xin, "--output", yout, "--threads", str(a.threads)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                print("compare_pytorch: r2plus1d-extract failed: " + r.stderr.strip(), file=sys.stderr)
                return 1
            rss_mb = int(r.stdout.split()[-1]) / 1024.0
            got = np.load(yout)
            rel = float(np.max(np.abs(got - want.numpy())) / np.max(np.abs(want.numpy())))
        rss_line = ("r2plus1d-extract on this clip: peak resident memory %.0f MB; features within %.2g of torch's "
                    "(max abs difference / max abs value)." % (rss_mb, rel))

    v = torch.__version__
    print("r2plus1d_18, one 1x3x16x112x112 clip, %d thread(s), %.1f GFLOP per clip; references in the same runs: "
          "FMA peak %.0f GFLOP/s (%s), Eigen sgemm %.0f GFLOP/s; medians of %d interleaved rounds"
          % (a.threads, flops / 1e9, pk / 1e9, isa, sg / 1e9, a.rounds))
    print("| runtime | time per clip (s) | GFLOP/s | of FMA peak | of sgemm | time / torch-frozen |")
    print("|---|---:|---:|---:|---:|---:|")
    lines = [("r2plus1d", t_ours), ("PyTorch %s frozen (trace, freeze, optimize_for_inference)" % v, t_frozen)]
    if eager_s:
        lines.append(("PyTorch %s eager, not the fair peer (after the rounds)" % v, statistics.median(eager_s)))
    for name, t in lines:
        print("| %s | %.3f | %.1f | %.2f | %.2f | %.2f |" % (name, t, flops / t / 1e9, flops / t / pk, flops / t / sg,
                                                          t / t_frozen))
    print("")
    print("r2plus1d / torch-frozen time: %.2f (%s); of the FMA peak: r2plus1d %.2f, torch-frozen %.2f."
          % (t_ours / t_frozen, "r2plus1d %.2fx faster" % (t_frozen / t_ours) if t_ours < t_frozen else
             "torch-frozen %.2fx faster" % (t_ours / t_frozen), flops / t_ours / pk, flops / t_frozen / pk))
    print("torch-frozen's outputs within %.1e of eager torch's (max abs difference / max abs value)." % frozen_err)
    print(rss_line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
