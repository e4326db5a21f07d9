#!/usr/bin/env python3
"""Runs one 1x3x16x112x112 clip through PyTorch and through r2plus1d in the
same run, on the same CPU and thread count, and prints times and the ratio.

- PyTorch: torchvision's r2plus1d_18 (random weights, eval, no_grad), one
  warm-up then the median of --repeats forward passes.
- r2plus1d: the same network and clip in bench/r2plus1d_bench (Google
  Benchmark, warm model), and r2plus1d-extract on the same weights and clip as a
  whole process: its features are compared with torch's and its peak resident
  memory is reported.

    python3 bench/compare_pytorch.py --build build [--threads 2]"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

RSS_WRAPPER = """
import os, subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
_, status, usage = os.wait4(p.pid, 0)
sys.stderr.write(p.stderr.read().decode())
print(usage.ru_maxrss)
sys.exit(0 if status == 0 else 1)
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--threads", type=int, default=2, choices=(1, 2))
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    try:
        import numpy as np
        import torch
        import torchvision.models.video as tvv
    except ImportError as e:
        print("compare_pytorch: PyTorch is missing (%s); on Debian: apt-get install python3-torch "
              "python3-torchvision. Nothing compared." % e, file=sys.stderr)
        return 2
    sys.path.insert(0, os.path.join(HERE, "..", "tools"))
    from convert_checkpoint import save_safetensors

    bench = os.path.join(a.build, "bench", "r2plus1d_bench")
    extract = os.path.join(a.build, "examples", "r2plus1d-extract")
    for exe in (bench, extract):
        if not os.path.exists(exe):
            print("compare_pytorch: %s not found; build first (cmake --build %s)" % (exe, a.build), file=sys.stderr)
            return 2

    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    model = tvv.r2plus1d_18().eval()
    x = torch.randn(1, 3, 16, 112, 112)
    times = []
    with torch.no_grad():
        want = torch.flatten(model.avgpool(model.layer4(model.layer3(model.layer2(model.layer1(model.stem(x)))))), 1)
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    t_torch = statistics.median(times)

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

    flt = "^r2plus1d_18/16x112x112/batch:1/threads:%d/" % a.threads
    out = subprocess.run([bench, "--benchmark_format=json", "--benchmark_filter=" + flt + "|^sgemm/threads:%d/" %
                          a.threads], check=True, capture_output=True, text=True).stdout
    rows = json.loads(out)["benchmarks"]
    ours = [r for r in rows if r["name"].startswith("r2plus1d_18")][0]
    sg = [r for r in rows if r["name"].startswith("sgemm")][0]
    t_ours = ours["real_time"] / 1000.0 if ours["time_unit"] == "ms" else ours["real_time"] / 1e9
    flops = ours["FLOP/s"] * t_ours

    print("r2plus1d_18, one 1x3x16x112x112 clip, %d thread(s), %.1f GFLOP per clip" % (a.threads, flops / 1e9))
    print("| runtime | time per clip (s) | GFLOP/s | of sgemm (%.0f GFLOP/s) |" % (sg["FLOP/s"] / 1e9))
    print("|---|---:|---:|---:|")
    print("| PyTorch %s | %.3f | %.1f | %.2f |" % (torch.__version__, t_torch, flops / t_torch / 1e9,
                                                  flops / t_torch / sg["FLOP/s"]))
    print("| r2plus1d | %.3f | %.1f | %.2f |" % (t_ours, ours["FLOP/s"] / 1e9, ours["FLOP/s"] / sg["FLOP/s"]))
    print("")
    print("r2plus1d is %.2fx faster than PyTorch %s here." % (t_torch / t_ours, torch.__version__))
    print("r2plus1d-extract on this clip: peak resident memory %.0f MB; features within %.2g of torch's "
          "(max abs difference / max abs value)." % (rss_mb, rel))
    return 0


if __name__ == "__main__":
    sys.exit(main())
