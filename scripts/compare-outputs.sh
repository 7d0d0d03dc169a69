#!/usr/bin/env bash
# Byte-identity check for refactors: runs two lookout binaries on the same inputs and compares
# every deterministic output.
#
#   scripts/compare-outputs.sh OLD_LOOKOUT NEW_LOOKOUT [FRAMES]     (default 40 PETS09 frames)
#
# Each binary records vtest.avi (JPEG, and raw bgr8), replays both recordings with the checkout's
# configs/lookout.param.yaml (--with-images, --render, --mot-out, --mot-det-out, --summary-json),
# re-tracks the MOT detections with `lookout track` and evaluates the replay (against PETS09-S2L1
# ground truth when $LOOKOUT_MOT15_DIR or ../shared/data/mot15 has it). Compared by sha256: the
# MCAPs, the MOT texts and the summary/eval JSON without timing fields and with paths
# normalised. Rendered frames are counted, not hashed (their overlay shows wall-clock stage
# times). Needs scripts/setup.sh (assets, ffmpeg).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${LOOKOUT_CACHE:-$HOME/.cache/lookout}
mot15=${LOOKOUT_MOT15_DIR:-$here/../shared/data/mot15}
[[ $# -ge 2 ]] || { sed -n 2,12p "$0" >&2; exit 2; }
frames=${3:-40}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PATH="$cache/bin:$PATH"

run() { # binary outdir
  local bin out=$2 gt=()
  bin=$(realpath "$1")
  mkdir -p "$out"
  [[ -f "$mot15/PETS09-S2L1/gt.txt" ]] && gt=(--gt "$mot15/PETS09-S2L1/gt.txt")
  local cfg="$here/configs/lookout.param.yaml"
  "$bin" record "$cache/data/vtest.avi" --fps 7 --max-frames "$frames" --out "$out/pets.mcap" >/dev/null 2>&1
  "$bin" record "$cache/data/vtest.avi" --fps 7 --max-frames 12 --raw bgr8 --out "$out/raw.mcap" >/dev/null 2>&1
  "$bin" replay "$out/pets.mcap" -c "$cfg" --out "$out/pets.det.mcap" --with-images --render "$out/frames" \
    --summary-json "$out/pets.summary.json" --mot-out "$out/pets.mot.txt" --mot-det-out "$out/pets.motdet.txt" \
    --no-progress >/dev/null 2>&1
  "$bin" replay "$out/raw.mcap" -c "$cfg" --out "$out/raw.det.mcap" --no-progress \
    --summary-json "$out/raw.summary.json" >/dev/null 2>&1
  "$bin" track -c "$cfg" --det "$out/pets.motdet.txt" --fps 7 --out "$out/track.txt" >/dev/null 2>&1
  "$bin" eval --replay "$out/pets.det.mcap" "${gt[@]}" --json "$out/eval.json" >/dev/null 2>&1 || true
  (cd "$out" && python3 - <<'PY'
import glob, hashlib, json, os
def strip(o):
    if isinstance(o, dict):
        return {k: strip(v) for k, v in o.items() if not any(
            t in k.lower() for t in ("latency", "time", "_ms", "stage", "wall", "elapsed", "fps", "seconds", "_s"))}
    if isinstance(o, list):
        return [strip(v) for v in o]
    if isinstance(o, str):
        return o.replace(os.getcwd(), "OUT")
    return o
for f in sorted(glob.glob("*.summary.json")) + ["eval.json"]:
    if os.path.exists(f):
        json.dump(strip(json.load(open(f))), open(f + ".stripped", "w"), indent=1, sort_keys=True)
rows = [hashlib.sha256(open(f, "rb").read()).hexdigest() + "  " + f
        for f in sorted(glob.glob("*.mcap") + glob.glob("*.txt") + glob.glob("*.stripped"))]
rows.append("rendered frames: %d" % len(glob.glob("frames/*")))
open("HASHES", "w").write("\n".join(rows) + "\n")
PY
  )
}
run "$1" "$work/old"
run "$2" "$work/new"
if diff "$work/old/HASHES" "$work/new/HASHES"; then
  echo "compare-outputs: byte-identical ($(grep -c '  ' "$work/new/HASHES") files, $frames frames)"
else
  echo "compare-outputs: DIFFERENT (outputs kept in $work)" >&2
  trap - EXIT
  exit 1
fi
