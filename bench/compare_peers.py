#!/usr/bin/env python3
"""r2plus1d_18 on one 1x3x16x112x112 clip through r2plus1d and through the CPU
runtimes found on this machine, side by side, at each thread count:

- r2plus1d: bench/forward_timer.cpp (r2plus1d_forward_timer), which also
  measures the CPU's fp32 FMA peak and Eigen's sgemm at the same thread count
  in the same process, right after its passes;
- torch-frozen, the PyTorch peer: torchvision's r2plus1d_18 as PyTorch users
  run CPU inference (torch.jit.trace, torch.jit.freeze,
  torch.jit.optimize_for_inference: BatchNorm folded into the convolutions,
  which run on oneDNN);
- eager PyTorch (eval, no_grad) in the default layout and in
  channels_last_3d, as secondary lines, not the fair peer (--no-eager leaves
  them out);
- ONNX Runtime, on the same model exported to ONNX, when onnxruntime and onnx
  are importable.

Runs are interleaved (every runtime once per round, --rounds rounds), and each
figure is the median over all rounds, so that a machine's drift hits every
runtime alike. Every runtime's rate is given as a fraction of the FMA peak
(the median of the timer's peak measurements at that thread count) and of
sgemm, and its time divided by torch-frozen's. A runtime that is missing is
named and skipped. ONNX Runtime pins its threads to cores; --bind asks
OpenMP to do the same for r2plus1d.

    python3 bench/compare_peers.py --timer build/bench/r2plus1d_forward_timer [--threads 1,2] [--no-eager]
    python3 bench/compare_peers.py --compile [--cxx g++] [--eigen /usr/include/eigen3]

--compile builds the timer with the compiler alone (-O3 -march=native
-fopenmp), for machines without CMake's dependencies. Without PyTorch in this
Python, the script runs itself again with Debian's /usr/bin/python3 where
that one has it."""

import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

from torch_peer import freeze, import_torch

from r2plus1d_version import r2plus1d_version

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def compile_timer(cxx, eigen, out):
    cmd = [cxx, "-std=c++17", "-O3", "-DNDEBUG", "-march=native", "-fopenmp", "-I" + os.path.join(ROOT, "include"),
           "-I" + eigen, "-I" + HERE, os.path.join(HERE, "forward_timer.cpp"), "-o", out]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("compare_peers: building the timer failed:\n" + r.stderr[-3000:])
    return out


def run_ours(timer, threads, repeats, bind):
    env = dict(os.environ)
    if bind:  # one thread per core, spread out, as ONNX Runtime pins its own pool
        env.setdefault("OMP_PROC_BIND", "spread")
        env.setdefault("OMP_PLACES", "cores")
    r = subprocess.run([timer, "--threads", str(threads), "--repeats", str(repeats)], capture_output=True, text=True,
                       env=env)
    if r.returncode != 0:
        sys.exit("compare_peers: %s failed: %s" % (timer, r.stderr.strip()))
    return json.loads(r.stdout)


def timed(fn, repeats):
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", action="version", version="%(prog)s (r2plus1d) " + r2plus1d_version())
    ap.add_argument("--timer", default=os.path.join("build", "bench", "r2plus1d_forward_timer"))
    ap.add_argument("--compile", action="store_true", help="build the timer with --cxx first")
    ap.add_argument("--cxx", default=os.environ.get("CXX", "g++"))
    ap.add_argument("--eigen", default="/usr/include/eigen3", help="folder holding Eigen/Core (with --compile)")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--repeats", type=int, default=3, help="timed passes per runtime per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", default=None, help="also write every measurement to this file")
    ap.add_argument("--no-eager", action="store_true", help="leave out eager PyTorch (secondary lines)")
    ap.add_argument("--bind", action="store_true",
                    help="run r2plus1d with OMP_PROC_BIND=spread OMP_PLACES=cores (unless already set)")
    a = ap.parse_args()
    threads = [int(t) for t in a.threads.split(",") if t]

    tmp = tempfile.mkdtemp(prefix="r2plus1d_peers_")
    atexit.register(shutil.rmtree, tmp, True)  # the compiled timer and the ONNX export
    timer = compile_timer(a.cxx, a.eigen, os.path.join(tmp, "forward_timer")) if a.compile else a.timer
    if not os.path.exists(timer):
        sys.exit("compare_peers: %s not found; build it (cmake --build build --target r2plus1d_forward_timer) "
                 "or pass --compile" % timer)

    peers = {}  # name: (set the thread count, one pass); the first is the peer the ratios divide by
    frozen_name = None
    try:
        torch, tvv = import_torch()
    except ImportError as e:
        print("compare_peers: PyTorch is missing (%s); skipped (ONNX Runtime needs it for the export too)." % e)
        model = None
    else:
        torch.manual_seed(0)
        model = tvv.r2plus1d_18().eval()
        x = torch.randn(1, 3, 16, 112, 112)

        def torch_run(m, inp):
            def f():
                with torch.no_grad():
                    m(inp)
            return f
        with torch.no_grad():
            frozen = freeze(torch, model, x)
            frozen(x)
            ref = model(x)
            err = float((frozen(x) - ref).abs().max() / ref.abs().max())
        print("compare_peers: torch-frozen's outputs within %.1e of eager torch's (max abs difference / max abs "
              "value)" % err)
        frozen_name = "torch-frozen: PyTorch %s, trace + freeze + optimize_for_inference" % torch.__version__
        peers[frozen_name] = (lambda n: torch.set_num_threads(n), torch_run(frozen, x))
        if not a.no_eager:
            model_cl = tvv.r2plus1d_18().eval().to(memory_format=torch.channels_last_3d)
            model_cl.load_state_dict(model.state_dict())
            x_cl = x.contiguous(memory_format=torch.channels_last_3d)
            peers["PyTorch %s eager (not the fair peer)" % torch.__version__] = (
                lambda n: torch.set_num_threads(n), torch_run(model, x))
            peers["PyTorch %s eager channels_last_3d (not the fair peer)" % torch.__version__] = (
                lambda n: torch.set_num_threads(n), torch_run(model_cl, x_cl))
    if model is not None:
        try:
            import onnxruntime as ort
            path = os.path.join(tmp, "r2plus1d_18.onnx")
            # The exporter's deprecation notices are about torch's own API, not about this
            # comparison: kept out of the table's output.
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", FutureWarning)
                try:  # the TorchScript exporter, where there is one
                    torch.onnx.export(model, (x,), path, input_names=["x"], output_names=["y"], opset_version=17,
                                      dynamo=False)
                except Exception:  # no dynamo switch, or no TorchScript exporter: the default one
                    torch.onnx.export(model, (x,), path, input_names=["x"], output_names=["y"], opset_version=17)
            sessions = {}

            def ort_session(n):
                if n not in sessions:
                    so = ort.SessionOptions()
                    so.intra_op_num_threads = n
                    so.inter_op_num_threads = 1
                    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                    sessions[n] = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
                return sessions[n]
            xin = x.numpy()
            current = {}

            def ort_set(n):
                current["s"] = ort_session(n)
            peers["ONNX Runtime %s" % ort.__version__] = (ort_set, lambda: current["s"].run(None, {"x": xin}))
        except ImportError as e:
            print("compare_peers: ONNX Runtime is missing (%s); skipped." % e)
        except Exception as e:  # the export or the session failed: say so, measure the rest
            print("compare_peers: ONNX Runtime skipped: %s" % str(e).splitlines()[0][:300])

    results = []
    for n in threads:
        ours_ms, sgemm, peak, gflop, kernels, isa = [], [], [], 0.0, "unknown", "?"
        peer_ms = {name: [] for name in peers}
        for _ in range(a.rounds):
            o = run_ours(timer, n, a.repeats, a.bind)
            ours_ms += o["ms"]
            sgemm.append(o["sgemm_gflops"])
            peak.append(o["fma_peak_gflops"])
            isa = o.get("fma_isa", isa)
            gflop = o["gflop"]
            kernels = o.get("conv_kernels", kernels)
            for name, (setup, fn) in peers.items():
                setup(n)
                peer_ms[name] += timed(fn, a.repeats)
        res = {"threads": n, "gflop": gflop, "conv_kernels": kernels, "sgemm_gflops": statistics.median(sgemm),
               "fma_isa": isa, "fma_peak_gflops": statistics.median(peak), "fma_peak_rounds": peak,
               "sgemm_rounds": sgemm, "r2plus1d_passes_ms": ours_ms,
               "r2plus1d_ms": statistics.median(ours_ms), "peers_ms": {k: statistics.median(v) for k, v in
                                                                        peer_ms.items()}}
        results.append(res)

    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print("r2plus1d_18, one 1x3x16x112x112 clip (%.1f GFLOP); %s, %d logical CPUs; r2plus1d on its %s convolution "
          "kernels; medians of %d rounds x %d passes, interleaved"
          % (results[0]["gflop"], cpu, os.cpu_count() or 0, results[0].get("conv_kernels", "unknown"), a.rounds,
             a.repeats))
    print("")
    print("| threads | runtime | ms per clip | GFLOP/s | of FMA peak | of sgemm | time / torch-frozen |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    summary = []
    for r in results:
        sg, pk = r["sgemm_gflops"], r["fma_peak_gflops"]
        rows = [("r2plus1d", r["r2plus1d_ms"])] + list(r["peers_ms"].items())
        base = r["peers_ms"].get(frozen_name)
        for name, ms in rows:
            gfs = r["gflop"] / (ms / 1000.0)
            print("| %d | %s | %.1f | %.1f | %.2f | %.2f | %s |" % (r["threads"], name, ms, gfs, gfs / pk, gfs / sg,
                                                                  "%.2f" % (ms / base) if base else "-"))
        print("| %d | FMA peak (%s, same process as r2plus1d) | | %.1f | 1.00 | %.2f | |"
              % (r["threads"], r["fma_isa"], pk, pk / sg))
        print("| %d | Eigen sgemm 1024^3 | | %.1f | %.2f | 1.00 | |" % (r["threads"], sg, sg / pk))
        if base:
            ours_gfs, frozen_gfs = r["gflop"] / (r["r2plus1d_ms"] / 1e3), r["gflop"] / (base / 1e3)
            summary.append("- %d thread(s): r2plus1d / torch-frozen time %.2f; of the FMA peak r2plus1d %.2f, "
                           "torch-frozen %.2f" % (r["threads"], r["r2plus1d_ms"] / base, ours_gfs / pk,
                                                  frozen_gfs / pk))
    if summary:
        print("")
        print("\n".join(summary))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"cpu": cpu, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
