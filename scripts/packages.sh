# Sourced by quickstart.sh and test.sh: ensure_packages PKG... installs the
# Debian packages among PKG that are absent (with sudo unless run as root).
ensure_packages() {
  local missing=() p sudo=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "$(basename "$0"): installing ${missing[*]}"
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# What r2plus1d-extract needs to build and to read videos, and ffmpeg for the sample.
R2PLUS1D_EXTRACT_PACKAGES=(g++ cmake make libeigen3-dev nlohmann-json3-dev libcli11-dev
                           pkg-config libavformat-dev libavcodec-dev libswscale-dev libavutil-dev ffmpeg)
# What the tests and benchmarks add: GoogleTest, Google Benchmark, PyTorch as the
# oracle, doxygen for the API reference and its completeness test, and Slurm
# with munge for the array-job test (a one-node cluster it starts itself, when
# run as root; the daemons are not enabled as services).
R2PLUS1D_TEST_PACKAGES=(libgtest-dev libbenchmark-dev python3 python3-numpy python3-torch python3-torchvision
                        doxygen slurm-wlm munge)
