#!/usr/bin/env python3
"""Times one training step of r2plus1d_18 in r2plus1d and in PyTorch, side by
side on the same CPU and thread count, with each one's peak resident memory.

A step: forward in training mode on a batch of clips (default 8 of
8x112x112), cross-entropy, backward, SGD with momentum 0.9. PyTorch runs it
as its users train on the CPU: torchvision's r2plus1d_18 in model.train(),
torch.nn.functional.cross_entropy, loss.backward(), torch.optim.SGD. r2plus1d
runs bench/train_step_timer.cpp (r2plus1d_train_step_timer), which also
measures the CPU's fp32 FMA peak at the same thread count. Each process does
one warm-up step and --repeats timed ones; the rounds alternate r2plus1d,
r2plus1d with activation checkpointing (--checkpointing: the blocks and the
stem keep only their inputs and compute their forward again in backward),
torch, --rounds times; figures are medians over the rounds' medians, memory
the largest peak RSS (getrusage) of a process.

    python3 bench/compare_train_step.py --build build [--threads 2] [--batch 8] [--clip 8,112,112] [--rounds 2]

Needs PyTorch and torchvision (Debian's python3-torch, python3-torchvision):
without them in this Python it runs itself again with /usr/bin/python3, and
otherwise says so and exits 2."""

import argparse
import json
import os
import statistics
import subprocess
import sys

from torch_peer import DEBIAN_PYTHON

TORCH_STEP = r"""
import json, resource, sys, time
import torch, torchvision
threads, batch, t, h, w, repeats = map(int, sys.argv[1:7])
torch.set_num_threads(threads)
torch.manual_seed(0)
net = torchvision.models.video.r2plus1d_18().train()
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
x = torch.randn(batch, 3, t, h, w)
y = torch.arange(batch) % 400
ms = []
for i in range(repeats + 1):
    s = time.perf_counter()
    loss = torch.nn.functional.cross_entropy(net(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if i > 0:
        ms.append((time.perf_counter() - s) * 1e3)
print(json.dumps({"torch": torch.__version__, "ms": ms,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def find_timer(build):
    for p in (os.path.join(build, "bench", "r2plus1d_train_step_timer"), os.path.join(build, "r2plus1d_train_step_timer")):
        if os.path.exists(p):
            return p
    sys.exit("compare_train_step.py: no r2plus1d_train_step_timer under '%s'; build with -DR2PLUS1D_BUILD_BENCH=ON"
             % build)


def torch_python():
    """A Python with torch and torchvision: this one, or Debian's."""
    for py in (sys.executable, DEBIAN_PYTHON):
        if py and os.path.exists(py) and subprocess.run(
                [py, "-c", "import torch, torchvision"], capture_output=True).returncode == 0:
            return py
    print("compare_train_step.py: PyTorch is missing; on Debian: apt-get install python3-torch "
          "python3-torchvision. Nothing compared.", file=sys.stderr)
    sys.exit(2)


def run_json(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("compare_train_step.py: %s failed:\n%s" % (cmd[0], p.stderr))
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--clip", default="8,112,112")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    timer, py = find_timer(a.build), torch_python()
    t, h, w = (int(v) for v in a.clip.split(","))
    ours, checkpointed, theirs = [], [], []
    args = [timer, "--threads", str(a.threads), "--batch", str(a.batch), "--clip", a.clip, "--repeats", str(a.repeats)]
    for r in range(a.rounds):
        ours.append(run_json(args))
        checkpointed.append(run_json(args + ["--checkpointing"]))
        theirs.append(run_json([py, "-c", TORCH_STEP, str(a.threads), str(a.batch), str(t), str(h), str(w),
                                str(a.repeats)]))
        print("round %d: r2plus1d %.2f s, with checkpointing %.2f s, torch %.2f s"
              % (r + 1, ours[-1]["median_ms"] / 1e3, checkpointed[-1]["median_ms"] / 1e3,
                 statistics.median(theirs[-1]["ms"]) / 1e3), file=sys.stderr)
    t_s = statistics.median(statistics.median(x["ms"]) for x in theirs) / 1e3
    peak = statistics.median(x["fma_peak_gflops"] for x in ours + checkpointed)
    gflop = ours[0]["gflop"]
    t_mb = max(x["max_rss_mb"] for x in theirs)
    print("r2plus1d_18 training step: batch %d of %s, SGD momentum 0.9, %d thread(s); %.0f conv GFLOP per step; "
          "FMA peak (%s) %.1f GFLOP/s" % (a.batch, "x".join(a.clip.split(",")), a.threads, gflop, ours[0]["fma_isa"],
                                          peak))
    print("| | step (s) | GFLOP/s | of FMA peak | peak RSS (MB) | speed / torch's | memory / torch's |")
    print("|---|---|---|---|---|---|---|")
    for name, runs in (("r2plus1d", ours), ("r2plus1d, activation checkpointing", checkpointed)):
        o_s = statistics.median(x["median_ms"] for x in runs) / 1e3
        o_mb = max(x["max_rss_mb"] for x in runs)
        print("| %s | %.2f | %.1f | %.2f | %.0f | %.2f | %.2f |" % (name, o_s, gflop / o_s, gflop / o_s / peak, o_mb,
                                                                    t_s / o_s, o_mb / t_mb))
    print("| torch %s eager | %.2f | %.1f | %.2f | %.0f | 1.00 | 1.00 |" % (theirs[0]["torch"], t_s, gflop / t_s,
                                                                            gflop / t_s / peak, t_mb))
    print("GFLOP/s count the step's own convolutions; checkpointing computes the blocks' forward twice.")


if __name__ == "__main__":
    main()
