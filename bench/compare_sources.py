#!/usr/bin/env python3
"""Two versions of the library's headers (say, main and a change) in one
process, interleaved call by call: every convolution shape of
bench/conv_shapes.hpp (or, with --stages, every stage of r2plus1d_18 on one
1x3x16x112x112 clip) runs on version A, then on B, then on B and A, and so on.
It prints B's fastest run against A's fastest, the median over rounds of
B / A, and how far apart their outputs are.

A shared machine's disturbances last seconds, so two calls milliseconds apart
see the same machine: this measures changes of a few percent that
compare_builds.py (two processes) loses in the noise. Both versions are
compiled into one program, version A with its namespace renamed by the
preprocessor, so they must share the public API this program calls
(ops::conv3d_fused_into, video::r2plus1d_18, its stages).

    python3 bench/compare_sources.py --a HEAD [--b include] [--threads 1] [--rounds 20] \\
        [--filter temporal] [--stages [--weight-cache]] [--eigen DIR]

--a and --b are include directories, or git revisions of this repository
(their include/ is taken with git archive). --b defaults to the working tree's
include/."""

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

from r2plus1d_version import r2plus1d_version

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
SOURCES = os.path.join(BENCH, "compare_sources")


def headers(spec, scratch, tag):
    """An include directory for `spec`: itself if it is one, else include/ at git revision `spec`."""
    if os.path.isdir(spec):
        if not os.path.isdir(os.path.join(spec, "r2plus1d")):
            sys.exit("compare_sources: %s has no r2plus1d/ headers" % spec)
        return os.path.abspath(spec)
    archive = os.path.join(scratch, tag + ".tar")
    try:
        subprocess.run(["git", "-C", ROOT, "archive", "--format=tar", "-o", archive, spec, "include"], check=True,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        detail = e.stderr.strip() if isinstance(e, subprocess.CalledProcessError) else str(e)
        sys.exit("compare_sources: '%s' is neither an include directory nor a git revision here (%s)" % (spec, detail))
    out = os.path.join(scratch, tag)
    with tarfile.open(archive) as t:
        try:
            t.extractall(out, filter="data")
        except TypeError:  # Python before 3.11.4: the archive is git's own, of this repository
            t.extractall(out)
    return os.path.join(out, "include")


def eigen_dir(given=None):
    if given:
        if not os.path.isdir(os.path.join(given, "Eigen")):
            sys.exit("compare_sources: %s has no Eigen/ headers" % given)
        return os.path.abspath(given)
    for d in ("/usr/include/eigen3", "/usr/local/include/eigen3"):
        if os.path.isdir(os.path.join(d, "Eigen")):
            return d
    try:
        flags = subprocess.run(["pkg-config", "--cflags-only-I", "eigen3"], check=True, stdout=subprocess.PIPE,
                               text=True).stdout.split()
        return flags[0][2:]
    except (OSError, subprocess.CalledProcessError, IndexError):
        sys.exit("compare_sources: Eigen's headers not found (install libeigen3-dev)")


def build(include_a, include_b, scratch, cxx, eigen=None, weight_cache=False):
    flags = ["-O3", "-march=native", "-fopenmp", "-DNDEBUG", "-std=c++17", "-isystem", eigen_dir(eigen)]
    if weight_cache:
        flags.append("-DCOMPARE_SOURCES_WEIGHT_CACHE=1")
    side = os.path.join(SOURCES, "side.cpp")
    jobs = [
        [cxx] + flags + ["-I", include_a, "-DCOMPARE_SOURCES_SIDE=a", "-Dr2plus1d=r2plus1d_a", "-c", side, "-o",
                         os.path.join(scratch, "a.o")],
        [cxx] + flags + ["-I", include_b, "-DCOMPARE_SOURCES_SIDE=b", "-c", side, "-o", os.path.join(scratch, "b.o")],
        [cxx] + flags + ["-c", os.path.join(SOURCES, "main.cpp"), "-o", os.path.join(scratch, "main.o")],
    ]
    procs = [subprocess.Popen(j, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for j in jobs]
    for j, p in zip(jobs, procs):
        out, _ = p.communicate()
        if p.returncode != 0:
            sys.exit("compare_sources: compiling failed: %s\n%s" % (" ".join(j), out[-4000:]))
    exe = os.path.join(scratch, "compare_sources")
    subprocess.run([cxx, "-fopenmp"] + [os.path.join(scratch, o) for o in ("a.o", "b.o", "main.o")] + ["-o", exe],
                   check=True)
    return exe


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", action="version", version="%(prog)s (r2plus1d) " + r2plus1d_version())
    ap.add_argument("--a", required=True, help="version A: an include directory or a git revision")
    ap.add_argument("--b", default=os.path.join(ROOT, "include"), help="version B (default: the working tree's)")
    ap.add_argument("--threads", default="1", help="thread count, or comma-separated counts (one build, a run each)")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--filter", default="", help="only convolutions whose name contains this")
    ap.add_argument("--stages", action="store_true", help="r2plus1d_18's stages instead of single convolutions")
    ap.add_argument("--weight-cache", action="store_true",
                    help="with --stages: the model keeps its weights' transforms between calls (set_weight_cache), "
                         "on each version that has it")
    ap.add_argument("--cxx", default=os.environ.get("CXX", "g++"))
    ap.add_argument("--eigen", help="folder holding Eigen/Core (default: the system's)")
    a = ap.parse_args()
    try:
        thread_counts = [int(t) for t in a.threads.split(",")]
    except ValueError:
        sys.exit("compare_sources: --threads takes numbers separated by commas, got '%s'" % a.threads)
    if min(thread_counts) < 1 or a.rounds < 1:
        sys.exit("compare_sources: --threads and --rounds must be positive")
    scratch = tempfile.mkdtemp(prefix="compare_sources.")
    try:
        exe = build(headers(a.a, scratch, "a"), headers(a.b, scratch, "b"), scratch, a.cxx, a.eigen, a.weight_cache)
        rc = 0
        for threads in thread_counts:
            args = [exe, "--threads", str(threads), "--rounds", str(a.rounds)]
            args += ["--stages"] if a.stages else ["--filter", a.filter]
            rc = rc or subprocess.run(args).returncode
        sys.exit(rc)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
