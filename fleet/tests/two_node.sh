#!/usr/bin/env bash
# The fleet driver on a real two-node Ray cluster on one machine: two network namespaces as two
# hosts joined by a veth pair (10.231.N.1 head, 10.231.N.2 worker; the addresses exist only
# inside the namespaces), each node in its own PID namespace with its own --temp-dir. The job
# goes through `ray job submit`; once the worker runs a recording, its raylet is killed: every
# recording must still complete exactly once (one result each, Ray's retry on the head), with
# outputs byte-identical to a single-machine `lookout replay`.
#
# Usage: two_node.sh WORKDIR (env LOOKOUT: the lookout binary; PY: the venv-fleet python).
# Everything it starts (namespaces, Ray processes) is torn down on exit, failure included.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
work=$1
mkdir -p "$work"
venv_bin=$(dirname "$PY")
n=$(( ($$ % 200) + 20 ))
nsa=lkf-a-$$ nsb=lkf-b-$$ va=lkfa$$ vb=lkfb$$
ip_a=10.231.$n.1 ip_b=10.231.$n.2
pids=()

cleanup() {
  local rc=$?
  # Killing a node's `unshare` kills its PID namespace's init, hence every process in it.
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del "$nsa" 2>/dev/null || true
  ip netns del "$nsb" 2>/dev/null || true
  exit "$rc"
}
trap cleanup EXIT INT TERM

ip netns add "$nsa"
ip netns add "$nsb"
ip link add "$va" type veth peer name "$vb"
ip link set "$va" netns "$nsa"
ip link set "$vb" netns "$nsb"
ip -n "$nsa" addr add "$ip_a/24" dev "$va"
ip -n "$nsb" addr add "$ip_b/24" dev "$vb"
for ns in "$nsa" "$nsb"; do ip -n "$ns" link set lo up; done
ip -n "$nsa" link set "$va" up
ip -n "$nsb" link set "$vb" up
ip netns exec "$nsa" ping -c1 -W2 "$ip_b" >/dev/null 2>&1 || echo "two-node: (no ping; going on)"

export RAY_USAGE_STATS_ENABLED=0
# node NS TEMPDIR ARGS...: a Ray node in its own network and PID namespace, in the background.
node() {
  local ns=$1 tmp=$2
  shift 2
  mkdir -p "$tmp"
  ip netns exec "$ns" unshare --pid --fork --kill-child --mount-proc \
    "$venv_bin/ray" start --block --temp-dir="$tmp" --object-store-memory=100000000 "$@" \
    >"$tmp.log" 2>&1 &
  pids+=($!)
}

echo "two-node: recordings and the single-machine reference"
HERE=$here "$PY" - "$work" <<'EOF'
import json, os, sys
sys.path.insert(0, os.path.join(os.environ["HERE"], "fleet", "tests"))
import common
work = sys.argv[1]
manifest, entries = common.make_recordings(work, 6, 2)
ref = common.reference_outputs(work, entries)
EOF

node "$nsa" "$work/a" --head --node-ip-address="$ip_a" --port=6380 --num-cpus=1 \
  --dashboard-host="$ip_a" --dashboard-port=8265
node "$nsb" "$work/b" --address="$ip_a:6380" --node-ip-address="$ip_b" --num-cpus=1

in_a() { ip netns exec "$nsa" "$@"; }
echo "two-node: waiting for both nodes and the job server"
for _ in $(seq 240); do
  if in_a "$PY" -c "
import ray, sys
ray.init(address='$ip_a:6380', log_to_driver=False)
sys.exit(0 if sum(n['Alive'] for n in ray.nodes()) == 2 else 1)" >/dev/null 2>&1 &&
     in_a "$venv_bin/ray" job list --address "http://$ip_a:8265" >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 1
done
[ "${ready:-}" = 1 ] || { echo "two-node: cluster not up"; tail -20 "$work/a.log" "$work/b.log"; exit 1; }

mkdir -p "$work/events"
job=$(in_a "$venv_bin/ray" job submit --address "http://$ip_a:8265" --no-wait -- \
  "$PY" "$here/fleet/lookout_fleet.py" --manifest "$work/manifest.jsonl" --results "$work/results.jsonl" \
  --lookout "$LOOKOUT" --events "$work/events" --no-progress 2>&1 | grep -o "raysubmit_[A-Za-z0-9]*" | head -1)
echo "two-node: submitted $job"

# Kill the worker's raylet as soon as the worker runs a recording.
for _ in $(seq 1200); do
  if grep -l "\"$ip_b\"" "$work"/events/start-* >/dev/null 2>&1; then break; fi
  sleep 0.1
done
grep -l "\"$ip_b\"" "$work"/events/start-* >/dev/null || { echo "two-node: the worker ran nothing"; exit 1; }
raylet=""
for p in /proc/[0-9]*; do
  cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null || true)
  case "$cmd" in
    *raylet/raylet*"$work/b/"*) raylet=${p#/proc/}; break ;;
  esac
done
[ -n "$raylet" ] || { echo "two-node: worker raylet not found"; exit 1; }
kill -KILL "$raylet"
echo "two-node: killed the worker's raylet (pid $raylet) while it ran a recording"

status=""
for _ in $(seq 600); do
  status=$(in_a "$venv_bin/ray" job status --address "http://$ip_a:8265" "$job" 2>/dev/null | grep -oi "succeeded\|failed\|stopped" | head -1 | tr a-z A-Z || true)
  [ -n "$status" ] && break
  sleep 1
done
in_a "$venv_bin/ray" job logs --address "http://$ip_a:8265" "$job" 2>/dev/null | tail -5 || true
[ "$status" = SUCCEEDED ] || { echo "two-node: job $status"; exit 1; }

HERE=$here "$PY" - "$work" "$ip_b" <<'EOF'
import json, os, sys
sys.path.insert(0, os.path.join(os.environ["HERE"], "fleet", "tests"))
import common
work, ip_b = sys.argv[1], sys.argv[2]
entries = [json.loads(l) for l in open(os.path.join(work, "manifest.jsonl"))]
ref = [open(os.path.join(work, "reference", f"rec{k}.mcap"), "rb").read() for k in range(len(entries))]
res = common.check_results(os.path.join(work, "results.jsonl"), entries, ref)
assert all(r["status"] == "done" for r in res), res
att = common.attempts(os.path.join(work, "events"))
on_b = sum(a["node"] == ip_b for a in att)
assert len(att) > len(entries), f"{len(att)} attempts: no retry after the raylet was killed"
print(f"two-node: {len(entries)} recordings, each done once (results manifest), {len(att)} attempts "
      f"({on_b} on the killed worker), outputs identical to single-machine replay")
EOF
echo "two-node: ok"
