#!/usr/bin/env bash
# The CUDA build check for machines without a GPU (CI): `--features cuda` must build, lint
# clean, embed non-empty kernels, and fail with a clear error when a GPU is asked for.
#
#   1. scripts/setup-cuda.sh: nvcc (PyPI CUDA 13.0 wheels) and link-time stand-ins;
#   2. cargo clippy --features cuda --all-targets -D warnings (runs build.rs: nvcc on
#      lookout's kernels for LOOKOUT_CUDA_ARCHS, each cubin and the fatbin checked non-empty);
#   3. cargo build --features cuda --bin lookout;
#   4. runs it with the stand-ins on the library path and `--device cuda:0`: it must exit 1
#      with "cannot open the GPU" and the driver's reason (not a loader error, not a crash).
# The GPU parity tests and benchmark need a GPU: scripts/gpu-check.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${LOOKOUT_CACHE:-$HOME/.cache/lookout}
"$here/scripts/setup-cuda.sh" >/dev/null
# shellcheck source=/dev/null
. "$cache/cuda/env.sh"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$cache/target}
cd "$here"
cargo clippy --locked --features cuda --all-targets -- -D warnings
cargo build --locked --features cuda --bin lookout

fatbin=$(ls -t "$CARGO_TARGET_DIR"/debug/build/lookout-*/out/lookout_kernels.fatbin | head -1)
echo "check-cuda: kernels $(stat -c %s "$fatbin") bytes for sm_${LOOKOUT_CUDA_ARCHS:-80,90} ($fatbin)"
for arch in $(echo "${LOOKOUT_CUDA_ARCHS:-80,90}" | tr ',' ' '); do
  cubin="$(dirname "$fatbin")/lookout_kernels.sm_$arch.cubin"
  [ -s "$cubin" ] || { echo "check-cuda: missing or empty $cubin" >&2; exit 1; }
done

set +e
msg=$(LD_LIBRARY_PATH="$LOOKOUT_CUDA_STUBS:$CUDA_HOME/lib64" RUST_BACKTRACE=0 \
  "$CARGO_TARGET_DIR/debug/lookout" bench-stages --device cuda:0 --runs 1 --warmup 0 2>&1)
rc=$?
set -e
echo "$msg" | tail -3
if [ "$rc" -ne 1 ] || ! grep -q "cannot open the GPU" <<<"$msg" || ! grep -q "CUDA_ERROR" <<<"$msg"; then
  echo "check-cuda: expected exit 1 with a clear no-GPU error, got exit $rc" >&2
  exit 1
fi
echo "check-cuda: ok (cuda build, lint, kernels, clear error without a GPU)"
