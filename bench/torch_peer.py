"""PyTorch as the benchmarks' peer: importing it (with Debian's Python when
the running one lacks it) and preparing a model as its users do for CPU
inference. Shared by compare_pytorch.py and compare_peers.py."""
import os
import sys

DEBIAN_PYTHON = "/usr/bin/python3"


def import_torch():
    """Returns (torch, torchvision.models.video). When this Python lacks them,
    runs the calling script again, once, with Debian's Python (which has
    python3-torch); raises ImportError where that is not possible."""
    try:
        import torch
        import torchvision.models.video as tvv
        return torch, tvv
    except ImportError:
        if (os.environ.get("R2PLUS1D_BENCH_REEXEC") != "1" and os.path.exists(DEBIAN_PYTHON)
                and os.path.realpath(sys.executable) != os.path.realpath(DEBIAN_PYTHON)):
            os.environ["R2PLUS1D_BENCH_REEXEC"] = "1"
            sys.stdout.flush()
            os.execv(DEBIAN_PYTHON, [DEBIAN_PYTHON] + sys.argv)
        raise


def freeze(torch, model, x):
    """PyTorch's CPU inference preparation: traced, frozen, optimized for
    inference (BN folded, oneDNN convolutions)."""
    with torch.no_grad():
        return torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, x)))
