#!/usr/bin/env bash
# One ROS 2 graph across two hosts (issue 16), on one machine: two network namespaces joined by
# a veth pair stand for two computers on one link (10.232.0.1 = host A, 10.232.0.2 = host B;
# these addresses exist only inside the two namespaces). Fast DDS (the wheels' RMW) with the
# built-in UDPv4 transport only (FASTDDS_BUILTIN_TRANSPORTS=UDPv4: no shared memory, so the
# samples really cross the link).
#
#  1. Positive: the project's default ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST plus
#     ROS_STATIC_PEERS naming the other host. A JPEG camera is published on host A, lookout_node
#     runs on host B, and host A receives the node's detections for the frames it sent (at
#     least 90 % of them; tests/ros_node_test.py --mode default).
#  2. Negative control: the same without ROS_STATIC_PEERS. LOCALHOST discovery must not cross
#     hosts: the camera never sees the node's subscription.
#
# Runs after scripts/test-ros.sh (make test-ros): it uses that tier's colcon install space and
# extracted frames. Needs root (ip netns). Every namespace and process is removed on exit.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cache=${LOOKOUT_CACHE:-$HOME/.cache/lookout}
t0=$SECONDS
say() { echo "test-hosts: $* ($((SECONDS - t0))s)" >&2; }

ros_install="$cache/ros-install"
node_bin="$ros_install/lib/lookout/lookout_node"
share="$ros_install/share/lookout"
work="$cache/ros-test"
frames=${LOOKOUT_ROS_TEST_FRAMES:-8}
for f in "$cache/ros-env.sh" "$node_bin" "$share/configs/lookout.param.yaml" "$work/frames-$frames.rgb" "$work/jpeg"; do
  [[ -e "$f" ]] || { echo "test-hosts: $f missing: run scripts/test-ros.sh first" >&2; exit 1; }
done
# shellcheck disable=SC1091
. "$cache/ros-env.sh"
set +u
# shellcheck disable=SC1091
. "$ros_install/setup.bash"
set -u
cd "$here"

a="lookout-hostA-$$" b="lookout-hostB-$$"
addr_a=10.232.0.1 addr_b=10.232.0.2
node_pid=""
cleanup() {
  if [[ -n "$node_pid" ]] && kill -0 "$node_pid" 2>/dev/null; then
    kill -INT "$node_pid" 2>/dev/null || true
    sleep 1
    kill -KILL "$node_pid" 2>/dev/null || true
  fi
  # Deleting a namespace deletes its end of the veth pair, and with it the other end.
  ip netns delete "$a" 2>/dev/null || true
  ip netns delete "$b" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$a"
ip netns add "$b"
ip link add "lkA$$" type veth peer name "lkB$$"
ip link set "lkA$$" netns "$a"
ip link set "lkB$$" netns "$b"
ip -n "$a" addr add "$addr_a/24" dev "lkA$$"
ip -n "$b" addr add "$addr_b/24" dev "lkB$$"
for ns in "$a" "$b"; do
  ip -n "$ns" link set lo up
done
ip -n "$a" link set "lkA$$" up
ip -n "$b" link set "lkB$$" up

# The environment of a process on one host: the project's discovery range, UDPv4 only, and
# (for the positive case) the other host as a static peer.
on_host() { # ns peer-address-or-empty command...
  local ns=$1 peer=$2
  shift 2
  ip netns exec "$ns" env -u FASTRTPS_DEFAULT_PROFILES_FILE -u FASTDDS_DEFAULT_PROFILES_FILE \
    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ${peer:+ROS_STATIC_PEERS=$peer} \
    FASTDDS_BUILTIN_TRANSPORTS=UDPv4 LD_PRELOAD="$LOOKOUT_LIBPYTHON" "$@"
}
start_node_on_b() { # peer log
  # Not through on_host: `ip netns exec` and `env` exec, so $! is the node itself and SIGINT
  # reaches it.
  local peer=$1
  ip netns exec "$b" env -u FASTRTPS_DEFAULT_PROFILES_FILE -u FASTDDS_DEFAULT_PROFILES_FILE \
    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ${peer:+ROS_STATIC_PEERS=$peer} \
    FASTDDS_BUILTIN_TRANSPORTS=UDPv4 LD_PRELOAD="$LOOKOUT_LIBPYTHON" \
    "$node_bin" --ros-args -r __ns:=/lk \
    --params-file "$share/configs/lookout.param.yaml" \
    -p "cameras.topics:=[/camjpeg/image_raw/compressed]" -p "cameras.transports:=[compressed]" \
    -p "cameras.frame_ids:=['']" >"$2" 2>&1 &
  node_pid=$!
}
stop_node() {
  kill -INT "$node_pid"
  local rc=0
  wait "$node_pid" || rc=$?
  node_pid=""
  return $rc
}
camera_on_a() { # peer discovery-timeout-s min-received
  on_host "$a" "$1" "$LOOKOUT_ROS_PYTHON" tests/ros_node_test.py --mode default --ns /lk \
    --raw "$work/frames-$frames.rgb" --jpeg-dir "$work/jpeg" --width 768 --height 576 --fps 7 \
    --seconds 3 --min-received "$3" --discovery-timeout-s "$2" \
    --label-suffix ", camera on host A, node on host B" --cameras jpeg:/camjpeg/image_raw/compressed
}

rc=0
say "host A ($addr_a) camera -> host B ($addr_b) lookout_node -> host A detections (ROS_STATIC_PEERS)"
start_node_on_b "$addr_a" "$work/hosts-node.log"
if camera_on_a "$addr_b" 60 0.9 >"$work/hosts.jsonl"; then
  cat "$work/hosts.jsonl" >&2
else
  echo "test-hosts: detections did not come back across the two hosts" >&2
  rc=1
fi
stop_node || { echo "test-hosts: lookout_node did not exit cleanly" >&2; rc=1; }

say "negative control: LOCALHOST discovery without static peers stays on its host"
start_node_on_b "" "$work/hosts-control.log"
if camera_on_a "" 10 0.9 >"$work/hosts-control.jsonl" 2>"$work/hosts-control.err"; then
  echo "test-hosts: without ROS_STATIC_PEERS the camera on host A still reached the node on host B" >&2
  rc=1
elif ! grep -q "the node's subscription" "$work/hosts-control.err"; then
  cat "$work/hosts-control.err" >&2
  echo "test-hosts: the negative control failed for another reason than discovery" >&2
  rc=1
fi
stop_node || { echo "test-hosts: lookout_node did not exit cleanly" >&2; rc=1; }

if [[ $rc -ne 0 ]]; then
  echo "--- node log (last 30 lines) ---" >&2
  tail -30 "$work/hosts-node.log" >&2
  exit $rc
fi
say "2 passed, 0 failed"
