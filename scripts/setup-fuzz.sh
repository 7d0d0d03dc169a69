#!/usr/bin/env bash
# Installs the fuzzer of `make fuzz`, cached under $LOOKOUT_CACHE/fuzz-tools:
#   - cargo-afl (crates.io, pinned)            -> $LOOKOUT_CACHE/fuzz-tools/bin
#   - the AFL++ it builds from its own source  -> $LOOKOUT_CACHE/fuzz-tools/share (XDG_DATA_HOME)
# cargo-afl instruments with rustc's stable `-C passes=sancov-module` options, so the fuzzing is
# coverage-guided on the stable toolchain (`cargo fuzz` needs nightly). Building AFL++ needs a C
# compiler and make. Idempotent: a second run only checks.
set -euo pipefail
cache=${LOOKOUT_CACHE:-$HOME/.cache/lookout}
tools=$cache/fuzz-tools
# Keep in step with the `afl` dependency of fuzz/Cargo.toml: the runtime is built per version.
afl_version=0.18.2
export XDG_DATA_HOME=$tools/share PATH=$tools/bin:$PATH

need_debs=()
command -v cc >/dev/null || need_debs+=(gcc)
command -v make >/dev/null || need_debs+=(make)
if [ ${#need_debs[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_debs[@]}" >/dev/null
fi

if ! cargo afl --version 2>/dev/null | grep -q "^cargo-afl $afl_version "; then
  echo "setup-fuzz: cargo install cargo-afl $afl_version" >&2
  cargo install --locked --quiet --root "$tools" "cargo-afl@$afl_version"
fi
# One runtime per rustc version (its folder name says which), as cargo-afl lays it out.
rustc_dir=$(rustc --version | awk '{print "rustc-" $2 "-" substr($3, 2, 7)}')
if [ ! -x "$XDG_DATA_HOME/afl.rs/$rustc_dir/afl.rs-$afl_version/afl/bin/afl-fuzz" ]; then
  echo "setup-fuzz: building AFL++ (a few minutes)" >&2
  cargo afl config --build --force >/dev/null
fi
