#!/usr/bin/env bash
# The convolution kernel tests on aarch64: tests/ops/conv3d_test.cpp,
# conv2plus1d_test.cpp and winograd_test.cpp (every conv path against the plain definition; the
# torch parity cases, which need the reference files, are left out),
# cross-compiled with Debian's g++-aarch64-linux-gnu at its default flags
# (armv8-a: Eigen's NEON kernels, the rows kernels' generic ones) and run
# under qemu-user, once on each family of convolution kernels.
#
#   tests/cross/run_aarch64.sh [BUILD_DIR]    (default: build-aarch64)
#
# Installs what it needs (Debian packages, with sudo unless root). Eigen,
# nlohmann-json and GoogleTest's sources are the host's: Eigen and
# nlohmann-json are header-only, and GoogleTest is compiled here for aarch64
# from /usr/src/googletest.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
build=${1:-build-aarch64}
mkdir -p "$build"
build=$(cd "$build" && pwd)

missing=()
for p in g++-aarch64-linux-gnu qemu-user libeigen3-dev nlohmann-json3-dev googletest; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

cxx=aarch64-linux-gnu-g++
sysroot=/usr/aarch64-linux-gnu
gtest=/usr/src/googletest/googletest
# Only the header-only libraries' own directories: /usr/include itself holds
# the host's C library headers.
mkdir -p "$build/include"
ln -sfn /usr/include/nlohmann "$build/include/nlohmann"
common=(-std=c++17 -O2 -fopenmp -isystem /usr/include/eigen3 -isystem "$build/include" -isystem "$gtest/include")

start=$SECONDS
# GoogleTest for aarch64, once per build directory.
if [ ! -f "$build/libgtest.a" ]; then
  $cxx "${common[@]}" -I"$gtest" -c "$gtest/src/gtest-all.cc" -o "$build/gtest-all.o" & a=$!
  $cxx "${common[@]}" -I"$gtest" -c "$gtest/src/gtest_main.cc" -o "$build/gtest_main.o" & b=$!
  wait $a
  wait $b
  aarch64-linux-gnu-ar rcs "$build/libgtest.a" "$build/gtest-all.o" "$build/gtest_main.o"
fi
flags=("${common[@]}" -Wall -Wextra -Wpedantic -I"$root/include" -I"$root/tests/support" -I"$root/tests/ops"
       "-DR2PLUS1D_REF_DIR=\"$build/no-references\"")
$cxx "${flags[@]}" -c "$root/tests/ops/conv3d_test.cpp" -o "$build/conv3d_test.o" & a=$!
$cxx "${flags[@]}" -c "$root/tests/ops/conv2plus1d_test.cpp" -o "$build/conv2plus1d_test.o" & b=$!
wait $a
$cxx "${flags[@]}" -c "$root/tests/ops/winograd_test.cpp" -o "$build/winograd_test.o" & a=$!
wait $b
wait $a
$cxx -fopenmp "$build/conv3d_test.o" "$build/conv2plus1d_test.o" "$build/winograd_test.o" "$build/libgtest.a" \
  -pthread -o "$build/conv_test"
echo "aarch64: built in $((SECONDS - start)) s"

# The binary must be aarch64 code (not the host's by accident).
aarch64-linux-gnu-readelf -h "$build/conv_test" | grep -q "Machine: *AArch64" || {
  echo "aarch64: $build/conv_test is not an aarch64 executable" >&2
  exit 1
}
# Both families at once (the tests are mostly single-threaded; qemu-user
# emulates each on a host thread), each to its own log.
start=$SECONDS
pids=()
for kernels in rows packed; do
  R2PLUS1D_CONV_KERNELS=$kernels qemu-aarch64 -L "$sysroot" "$build/conv_test" \
    --gtest_filter='-*Parity*' --gtest_brief=1 >"$build/conv_test.$kernels.log" 2>&1 &
  pids+=($!)
done
status=0
for i in 0 1; do
  kernels=$([ $i -eq 0 ] && echo rows || echo packed)
  if wait "${pids[$i]}"; then
    tail -n 2 "$build/conv_test.$kernels.log"
    echo "aarch64: conv kernel tests on the $kernels kernels passed"
  else
    cat "$build/conv_test.$kernels.log"
    echo "aarch64: conv kernel tests on the $kernels kernels FAILED" >&2
    status=1
  fi
done
echo "aarch64: tests ran in $((SECONDS - start)) s"
exit $status
