#!/usr/bin/env bash
# Runs a sanitizer build's r2plus1d-extract under LeakSanitizer on the built-in
# clip, on a saved .npy clip, on videos made by FFMPEG when given (the
# extractor then reads videos), and on bad inputs (error paths must free
# everything too). Fails on any leak or sanitizer report, or a wrong exit code.
#   extract_leaks.sh EXE WORKDIR [FFMPEG]
set -uo pipefail
exe="$1"
work="$2"
ffmpeg="${3:-}"
rm -rf "$work" && mkdir -p "$work"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=86:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
failed=0
# expect WANT(ok|error) ARGS...: run, check the exit status and that no sanitizer spoke.
expect() {
  local want="$1"
  shift
  "$exe" "$@" >"$work/out.txt" 2>"$work/err.txt"
  local rc=$?
  if grep -qE 'LeakSanitizer|AddressSanitizer|runtime error:' "$work/err.txt"; then
    echo "FAIL sanitizer report for: $*"; cat "$work/err.txt"; failed=1; return
  fi
  if { [ "$want" = ok ] && [ $rc -ne 0 ]; } || { [ "$want" = error ] && { [ $rc -eq 0 ] || [ $rc -ge 128 ]; }; }; then
    echo "FAIL exit $rc (wanted $want) for: $*"; cat "$work/err.txt"; failed=1; return
  fi
  echo "ok   ($want, exit $rc) $*"
}
expect ok --layers 1,1,1,1 --quiet --output "$work/features.npy"
expect ok --layers 1,1,1,1 --quiet --threads 2 --overwrite --output "$work/features.npy"
expect error --layers 1,1,1,1 --input "$work/nope.npy"
expect error --layers 1,1,1,1 --input "$work"
expect error --layers 1,1,1,1 --weights "$work/features.npy"
expect error --layers 1,1,1,1 --input "$work/features.npy"
expect error --layers 2,0,2,2
if [ -n "$ffmpeg" ]; then
  mkdir -p "$work/videos"
  "$ffmpeg" -v error -y -f lavfi -i testsrc2=size=96x72:rate=25 -t 1 -pix_fmt yuv420p "$work/videos/a.mp4"
  "$ffmpeg" -v error -y -f lavfi -i testsrc2=size=80x60:rate=10 -t 1 -c:v mpeg4 "$work/videos/b.avi"
  printf 'not a video at all' >"$work/bad.mp4"
  head -c 2000 "$work/videos/a.mp4" >"$work/cut.mp4"
  small=(--layers 1,1,1,1 --clip-len 4 --step 6 --quiet)
  expect ok "${small[@]}" --output "$work/a.npy" "$work/videos/a.mp4"
  expect ok "${small[@]}" --threads 2 --batch 2 --output-dir "$work/out" "$work/videos"
  expect ok "${small[@]}" --format csv --fps 5 --output "$work/b.csv" "$work/videos/b.avi"
  expect error "${small[@]}" --output "$work/bad.npy" "$work/bad.mp4"
  expect error "${small[@]}" --output "$work/cut.npy" "$work/cut.mp4"
  expect error "${small[@]}" --output "$work/none.npy" "$work/missing.mp4"
fi
exit $failed
