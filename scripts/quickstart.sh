#!/usr/bin/env bash
# Installs what is missing (Debian packages), builds r2plus1d with its tests,
# benchmarks and examples in ./build, makes a 3-second sample video with
# ffmpeg and runs the feature extractor on it with r2plus1d_18. Safe to run
# again: it only installs what is absent.
#
#   bash scripts/quickstart.sh [WEIGHTS.safetensors]   # r2plus1d_18 weights; default: seeded random ones
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(g++ cmake make libeigen3-dev nlohmann-json3-dev libcli11-dev libgtest-dev libbenchmark-dev
          python3 python3-numpy python3-torch python3-torchvision
          pkg-config libavformat-dev libavcodec-dev libswscale-dev libavutil-dev ffmpeg)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "quickstart: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)"
sample=build/sample.mp4
if [ ! -s "$sample" ]; then
  ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=25 -t 3 -pix_fmt yuv420p "$sample"
fi
weights=()
[ $# -ge 1 ] && weights=(--weights "$1")
./build/examples/r2plus1d-extract --arch r2plus1d_18 "${weights[@]}" "$sample"
