#!/usr/bin/env bash
# Seeds from real files for the fuzz targets of fuzz/, beside the small synthetic ones committed
# in fuzz/seeds/: written to $LOOKOUT_CACHE/fuzz-corpus/<target>/ (never committed: they come
# from vtest.avi). tests/fuzz_corpus.rs replays them too when they exist.
#   mcap   `lookout record` of 2 vtest frames: JPEG at full size, and raw bgr8 at 64x48
#   cdr    the messages of those recordings (selector byte + CDR, see fuzz/src/lib.rs)
#   image  the 2 frames as JPEG and PNG at 192x144 (selector byte + file)
#   config configs/*.param.yaml
# Needs: a lookout binary ($LOOKOUT, default the release build), scripts/setup.sh's ffmpeg,
# vtest.avi and the oracle venv (PyPI `mcap` reads the messages back).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${LOOKOUT_CACHE:-$HOME/.cache/lookout}
lookout=${LOOKOUT:-${CARGO_TARGET_DIR:-$cache/target}/release/lookout}
ffmpeg=$cache/bin/ffmpeg
python=$cache/venv-oracle/bin/python
video=$cache/data/vtest.avi
for need in "$lookout" "$ffmpeg" "$python" "$video"; do
  [ -e "$need" ] || { echo "fuzz-corpus: $need is missing (make build; scripts/setup.sh)" >&2; exit 1; }
done

out=$cache/fuzz-corpus
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$out"/{mcap,cdr,image,config} "$work"/{small,medium}

# Two frames, downscaled: raw messages and PNGs of full size would make the fuzzer's every
# execution slow without reaching more code.
"$ffmpeg" -loglevel error -i "$video" -frames:v 2 -vf scale=64:48 "$work/small/%02d.png"
"$ffmpeg" -loglevel error -i "$video" -frames:v 2 -vf scale=192:144 "$work/medium/%02d.png"
"$ffmpeg" -loglevel error -i "$video" -frames:v 2 -vf scale=192:144 -q:v 3 "$work/medium/%02d.jpg"

"$lookout" record "$video" --fps 7 --max-frames 2 --out "$out/mcap/vtest-2-jpeg.mcap" >/dev/null
"$lookout" record "$work/small" --fps 7 --raw bgr8 --out "$out/mcap/vtest-2-bgr8-64x48.mcap" >/dev/null

for f in "$work"/medium/*; do
  name=$(basename "$f")
  { printf '\x00'; cat "$f"; } >"$out/image/vtest-192x144-${name%.*}.${name##*.}"
done

"$python" - "$out/cdr" "$out/mcap"/*.mcap <<'PY'
import pathlib, sys
from mcap.reader import make_reader
selector = {"sensor_msgs/msg/Image": 0, "sensor_msgs/msg/CompressedImage": 1}
out = pathlib.Path(sys.argv[1])
for path in map(pathlib.Path, sys.argv[2:]):
    with path.open("rb") as f:
        for i, (schema, _channel, message) in enumerate(make_reader(f).iter_messages()):
            name = f"{path.stem}-{i}"
            (out / name).write_bytes(bytes([selector[schema.name]]) + message.data)
PY

cp "$here"/configs/*.param.yaml "$out/config/"
for t in mcap cdr image config; do
  echo "fuzz-corpus: $t: $(ls "$out/$t" | wc -l) files, $(du -sh "$out/$t" | cut -f1)" >&2
done
