"""The small harness the command-line end-to-end tests share: their arguments
and work directory, named checks that are counted and summarised as 'N
passed, N failed', running the binary with no standard input, and the parity
measure of tests/support/parity.hpp. Importing it also makes tests/reference
(the torch definitions) and tools (the converter) importable.

A test that passes removes its work directory (models, checkpoints and
outputs: up to a few GB across the suite); one that fails keeps it to look
at, and R2PLUS1D_KEEP_TEST_WORK=1 keeps it always."""

import argparse
import os
import shutil
import subprocess
import sys

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
for _d in (os.path.join(_HERE, "..", "reference"), os.path.join(_HERE, "..", "..", "tools")):
    if _d not in sys.path:
        sys.path.insert(0, _d)

TOL = 1e-4  # float: max |ours - torch| <= 1e-4 * max |torch|

results = []
_work = []  # the work directory summary() removes when every check passed


def parse_args(ffmpeg=False, fresh=True, ref=False):
    """--exe (the program under test), --work (its scratch directory: emptied
    first when `fresh`, else kept), with `ffmpeg`, --ffmpeg and, with `ref`,
    --ref (the directory of the torch references)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--exe", required=True)
    if ffmpeg:
        ap.add_argument("--ffmpeg", required=True)
    if ref:
        ap.add_argument("--ref", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    if fresh:
        shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work, exist_ok=True)
    use_work(a.work)
    return a


def use_work(path):
    """Names the work directory of a test that parses its own arguments, for
    summary() to remove when every check passed."""
    _work[:] = [path]


def check(name, cond, detail=""):
    results.append((name, bool(cond)))
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else ": " + detail), flush=True)
    return bool(cond)


def run(exe, *args, timeout=600):
    return subprocess.run([exe, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout)


def rel_err(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def summary():
    """Prints 'N passed, N failed' and returns the exit status. When every
    check passed, removes the work directory (unless R2PLUS1D_KEEP_TEST_WORK
    is set): the next run starts it afresh anyway."""
    passed = sum(1 for _, ok in results if ok)
    failed = len(results) - passed
    print("%d passed, %d failed" % (passed, failed))
    if failed == 0 and _work and not os.environ.get("R2PLUS1D_KEEP_TEST_WORK"):
        shutil.rmtree(_work[0], ignore_errors=True)
    return 0 if failed == 0 else 1
