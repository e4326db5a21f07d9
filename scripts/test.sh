#!/usr/bin/env bash
# Installs what the tests and benchmarks need (Debian packages, only those
# absent, PyTorch among them as the numerical oracle), builds everything in
# ./build (tests, benchmarks, examples) and runs the whole test suite. Safe to
# run after scripts/quickstart.sh, or on its own.
#
#   bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/packages.sh
ensure_packages "${R2PLUS1D_EXTRACT_PACKAGES[@]}" "${R2PLUS1D_TEST_PACKAGES[@]}"

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DR2PLUS1D_BUILD_EXAMPLES=ON \
  -DR2PLUS1D_BUILD_TESTS=ON -DR2PLUS1D_BUILD_BENCH=ON
cmake --build build -j "$(nproc)"
ctest --test-dir build --output-on-failure -j 2
