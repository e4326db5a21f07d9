"""r2plus1d's version for the benchmark scripts' --version, read from
include/r2plus1d/version.hpp, the one place it is written."""

import os
import re


def r2plus1d_version():
    """ "MAJOR.MINOR.PATCH"."""
    header = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "include", "r2plus1d", "version.hpp")
    with open(header) as f:
        parts = dict(re.findall(r"^#define R2PLUS1D_VERSION_(MAJOR|MINOR|PATCH) (\d+)$", f.read(), re.M))
    return "%s.%s.%s" % (parts["MAJOR"], parts["MINOR"], parts["PATCH"])
