#!/usr/bin/env bash
# Builds the libFuzzer targets with clang++-14 (ASan + UBSan, any UB fatal) and
# runs each for SECONDS (default 60) on a copy of its committed seed corpus.
# Any crash, leak, sanitizer report or non-library exception fails the script;
# the reproducer is left in $WORK/artifacts.
#
#   tests/fuzz/run_fuzzers.sh [SECONDS] [TARGET...]     TARGET: safetensors npy video
#
# The video target links FFmpeg's libraries (libavformat-dev, libavcodec-dev,
# libswscale-dev, libavutil-dev).
#
# Environment: CXX (default clang++-14), WORK (default build-fuzz), JOBS
# (libFuzzer -jobs per target, default 1).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors npy video)
cxx="${CXX:-clang++-14}"
work="${WORK:-$root/build-fuzz}"
mkdir -p "$work/artifacts"

flags=(-std=c++17 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
       -I"$root/include" -I/usr/include/eigen3)
for t in "${targets[@]}"; do
  src="$here/fuzz_$t.cpp"
  bin="$work/fuzz_$t"
  if [ ! -x "$bin" ] || [ "$src" -nt "$bin" ] || [ -n "$(find "$root/include" -newer "$bin" -name '*.hpp' | head -1)" ]; then
    echo "run_fuzzers: building $bin"
    libs=()
    [ "$t" = video ] && libs=(-lavformat -lavcodec -lswscale -lavutil)
    "$cxx" "${flags[@]}" "$src" -o "$bin" "${libs[@]}"
  fi
done

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
status=0
for t in "${targets[@]}"; do
  corpus="$work/corpus/$t"
  mkdir -p "$corpus"
  cp -n "$here/corpus/$t/"* "$corpus/"
  echo "run_fuzzers: fuzz_$t for ${seconds}s"
  log="$work/fuzz_$t.log"
  # The safetensors seeds include a 200 KB header nested 100,000 levels deep:
  # inputs that long, and a dictionary of the header's JSON tokens.
  opts=(-max_len=8192)
  [ "$t" = safetensors ] && opts=(-max_len=262144 -dict="$here/safetensors.dict")
  if "$work/fuzz_$t" -max_total_time="$seconds" "${opts[@]}" -rss_limit_mb=2048 -timeout=25 -print_final_stats=1 \
       -artifact_prefix="$work/artifacts/${t}-" "$corpus" >"$log" 2>&1; then
    grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" || tail -3 "$log"
  else
    status=1
    echo "run_fuzzers: fuzz_$t FAILED; log $log, artifacts in $work/artifacts" >&2
    tail -60 "$log" >&2
  fi
done
exit $status
