#!/usr/bin/env bash
# The fleet tier (fleet/, issue 16): the Ray driver on a quick three-node `Cluster` and on a real
# two-node cluster (two network namespaces joined by a veth pair, `ray job submit`, the
# worker's raylet killed mid-run). Ray never runs on the host network: every Ray process runs
# in a network namespace of its own (loopback only, or the veth pair), and in a PID namespace
# that is killed whole on exit, failure included. Needs root (namespaces) and venv-fleet
# (scripts/setup-fleet.sh, run here). A few minutes on 2 cores.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
cache=${LOOKOUT_CACHE:-$HOME/.cache/lookout}
export LOOKOUT_CACHE=$cache
scripts/setup-fleet.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$cache/target}
work=$(mktemp -d /tmp/lkf.XXXXXX)
if [ -z "${LOOKOUT:-}" ]; then
  ${CARGO:-cargo} build --locked --bin lookout
  # A private copy: a build in another checkout sharing the target folder cannot swap it.
  cp "$CARGO_TARGET_DIR/debug/lookout" "$work/lookout"
  LOOKOUT=$work/lookout
fi
export LOOKOUT PY=$cache/venv-fleet/bin/python
quick=""
cleanup() {
  local rc=$?
  [ -n "$quick" ] && kill -KILL "$quick" 2>/dev/null
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT INT TERM

echo "test-fleet: quick tier (ray.cluster_utils.Cluster, loopback-only namespace)"
unshare --net --pid --fork --kill-child --mount-proc bash -c 'ip link set lo up && exec "$@"' _ \
  "$PY" fleet/tests/test_quick.py "$work/quick" &
quick=$!
wait "$quick"
quick=""
echo "test-fleet: two-node tier (two namespaces, veth, ray job submit, raylet killed)"
fleet/tests/two_node.sh "$work/two"
echo "test-fleet: ok"
