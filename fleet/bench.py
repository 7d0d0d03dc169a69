#!/usr/bin/env python3
"""Fleet replay throughput against the number of Ray workers (BENCHMARKS.md, "Fleet replay on
Ray"): the same recordings replayed by `ray.cluster_utils.Cluster`s of 1 and 2 one-CPU worker
nodes on this machine; prints recordings/s and frames/s per worker count. Run it inside a
loopback-only network namespace, as scripts/test-fleet.sh runs the tests:

    unshare --net --pid --fork --kill-child --mount-proc bash -c 'ip link set lo up && exec "$@"' _ \\
        ~/.cache/lookout/venv-fleet/bin/python fleet/bench.py WORKDIR RECORDINGS FRAMES

(env LOOKOUT: the lookout binary; a release build for numbers).
"""

import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "tests"))

import common  # noqa: E402
import lookout_fleet  # noqa: E402


def main(work, count, frames):
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray
    from ray.cluster_utils import Cluster

    _, entries = common.make_recordings(work, count, frames)
    total_frames = sum(frames + k % 2 for k in range(count))
    for workers in (1, 2):
        shutil.rmtree(os.path.join(work, "out"), ignore_errors=True)
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "object_store_memory": 100 << 20, "include_dashboard": False})
        for _ in range(workers):
            cluster.add_node(num_cpus=1, object_store_memory=100 << 20)
        ray.init(address=cluster.address, log_to_driver=False)
        cluster.wait_for_nodes()
        try:
            t = time.time()
            results = lookout_fleet.run_fleet(entries, common.lookout_bin(), progress=False)
            wall = time.time() - t
        finally:
            ray.shutdown()
            cluster.shutdown()
        assert all(r["status"] == "done" for r in results), results
        print(f"workers {workers}: {count} recordings, {total_frames} frames in {wall:.1f} s: "
              f"{count / wall:.3f} recordings/s, {total_frames / wall:.2f} frames/s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
