#!/usr/bin/env bash
# `make fuzz`: builds the AFL++ targets of fuzz/ with cargo-afl and runs each for a fixed time,
# then prints, per target, the inputs tried and the crashes and hangs found. Exits 1 when any
# target crashed; the crashing inputs stay in $LOOKOUT_CACHE/fuzz-out/<target>/default/crashes/.
#   FUZZ_SECONDS  seconds per target (default 60)
#   FUZZ_TARGETS  which targets (default all: mcap cdr image mot config detections onnx)
# Seeds: fuzz/seeds/<target>/, configs/*.param.yaml, and scripts/fuzz-corpus.sh's corpus of real
# files in $LOOKOUT_CACHE/fuzz-corpus/<target>/ when it exists (`make fuzz` makes it first).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${LOOKOUT_CACHE:-$HOME/.cache/lookout}
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-mcap cdr image mot config detections onnx}
tools=$cache/fuzz-tools
export XDG_DATA_HOME=$tools/share PATH=$tools/bin:$PATH
target_dir=${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$cache/target}/afl}

"$here/scripts/setup-fuzz.sh"
(cd "$here/fuzz" && CARGO_TARGET_DIR=$target_dir cargo afl build --release --locked --quiet)

# AFL++ refuses to start on a machine set up for debugging (core dumps piped to a handler, CPU
# frequency scaling) unless told the findings may be fewer; this is a shared development
# machine, not a fuzzing farm, so accept that rather than ask for root to change it. No CPU
# binding either: other work shares the cores.
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
# The MCAP target writes each input to a temporary file: keep that in memory when possible.
if [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi

results=()
crashed=0
for t in $targets; do
  in=$cache/fuzz-out/$t.seeds
  out=$cache/fuzz-out/$t
  rm -rf "$in" "$out"
  mkdir -p "$in"
  cp "$here/fuzz/seeds/$t"/* "$in/" 2>/dev/null || true
  cp "$cache/fuzz-corpus/$t"/* "$in/" 2>/dev/null || true
  if [ "$t" = config ]; then cp "$here"/configs/*.param.yaml "$in/"; fi
  echo "fuzz: $t for ${seconds}s ($(ls "$in" | wc -l) seeds; log $out.log)" >&2
  # -t: a slow input (a large PNG) is not a hang; -V: the fixed time.
  cargo afl fuzz -V "$seconds" -t 5000 -i "$in" -o "$out" -- "$target_dir/release/$t" >"$out.log" 2>&1 || {
    echo "fuzz: afl-fuzz failed on $t, see $out.log:" >&2
    tail -20 "$out.log" >&2
    exit 1
  }
  stat() { awk -F' *: *' -v k="$1" '$1 == k {print $2}' "$out/default/fuzzer_stats"; }
  results+=("$(printf '%-7s %8s %10s %9s %7s %9s %7s %5s' "$t" "$(stat run_time)" "$(stat execs_done)" \
    "$(stat execs_per_sec)" "$(stat corpus_count)" "$(stat bitmap_cvg)" "$(stat saved_crashes)" "$(stat saved_hangs)")")
  if [ "$(stat saved_crashes)" != 0 ]; then crashed=1; fi
done

echo
echo "fuzzing with AFL++ (cargo-afl), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
printf '%-7s %8s %10s %9s %7s %9s %7s %5s\n' target time_s execs execs/s corpus coverage crashes hangs
printf '%s\n' "${results[@]}"
if [ "$crashed" = 1 ]; then
  echo "crashing inputs:"
  ls "$cache"/fuzz-out/*/default/crashes/id:* 2>/dev/null || true
  exit 1
fi
