#!/usr/bin/env bash
# Installs what r2plus1d-extract needs (Debian packages, only those absent),
# builds that one program in ./build, makes a 3-second sample video with
# ffmpeg and runs the extractor on it with r2plus1d_18. Safe to run again.
# scripts/test.sh then builds and runs the test suite in the same ./build.
#
#   bash scripts/quickstart.sh [WEIGHTS.safetensors]   # r2plus1d_18 weights; default: seeded random ones
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/packages.sh
ensure_packages "${R2PLUS1D_EXTRACT_PACKAGES[@]}"

# Tests and benchmarks are configured by scripts/test.sh; here only the extractor is built.
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DR2PLUS1D_BUILD_EXAMPLES=ON \
  -DR2PLUS1D_BUILD_TESTS=OFF -DR2PLUS1D_BUILD_BENCH=OFF
cmake --build build --target r2plus1d-extract -j "$(nproc)"
sample=build/sample.mp4
if [ ! -s "$sample" ]; then
  ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=25 -t 3 -pix_fmt yuv420p "$sample"
fi
weights=()
[ $# -ge 1 ] && weights=(--weights "$1")
./build/examples/r2plus1d-extract --arch r2plus1d_18 "${weights[@]}" "$sample"
