"""The small harness the extractor's end-to-end tests share: named checks that
are counted and summarised as 'N passed, N failed', running the binary with no
standard input, and the parity measure of tests/support/parity.hpp."""

import subprocess

import numpy as np

TOL = 1e-4  # float: max |ours - torch| <= 1e-4 * max |torch|

results = []


def check(name, cond, detail=""):
    results.append((name, bool(cond)))
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else ": " + detail), flush=True)
    return bool(cond)


def run(exe, *args, timeout=600):
    return subprocess.run([exe, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout)


def rel_err(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def summary():
    """Prints 'N passed, N failed' and returns the exit status."""
    passed = sum(1 for _, ok in results if ok)
    failed = len(results) - passed
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1
