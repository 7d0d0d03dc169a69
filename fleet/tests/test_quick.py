#!/usr/bin/env python3
"""Quick tier of the fleet driver: a Ray cluster of three nodes on one machine
(`ray.cluster_utils.Cluster`: a head without CPUs that runs the driver, two one-CPU workers).
Must run inside a network namespace with only loopback (scripts/test-fleet.sh does that): Ray
replaces 127.0.0.1 with the host's address, and must never listen on the host's network.

Checks: every recording replayed once, outputs byte-identical to a single-machine `lookout
replay`, a results manifest in manifest order; a second run skips everything (resume); a worker
node removed while its task runs: the task is retried on the other node and every output is
still the reference's; a manifest with a wrong sha256 gives a failed record, not a retry.

Usage: test_quick.py WORKDIR (env LOOKOUT: the lookout binary).
"""

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

import common  # noqa: E402
import lookout_fleet  # noqa: E402


def main(work):
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    import ray
    from ray.cluster_utils import Cluster

    os.makedirs(work, exist_ok=True)
    manifest, entries = common.make_recordings(work, 4, 2)
    reference = common.reference_outputs(work, entries)
    lookout = common.lookout_bin()

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "object_store_memory": 100 << 20, "include_dashboard": False},
    )
    workers = [cluster.add_node(num_cpus=1, object_store_memory=100 << 20) for _ in range(2)]
    ray.init(address=cluster.address, log_to_driver=False)
    cluster.wait_for_nodes()
    try:
        # 1. Everything replayed once, byte-identical to a single machine.
        events = os.path.join(work, "events1")
        os.makedirs(events)
        results = lookout_fleet.run_fleet(entries, lookout, events_dir=events, progress=False)
        path = os.path.join(work, "results1.jsonl")
        lookout_fleet.write_atomic(path, "".join(json.dumps(r) + "\n" for r in results))
        res = common.check_results(path, entries, reference)
        assert all(r["status"] == "done" for r in res), res
        assert len(common.attempts(events)) == len(entries)
        print("quick: 4 recordings on 2 workers, identical to single-machine replay", flush=True)

        # 2. Resume: all present, no task runs.
        events = os.path.join(work, "events2")
        os.makedirs(events)
        results = lookout_fleet.run_fleet(entries, lookout, events_dir=events, progress=False)
        assert all(r["status"] == "present" for r in results), results
        assert common.attempts(events) == []
        print("quick: second run skipped every recording (resume)", flush=True)

        # 3. A worker node lost mid-run: its task is retried on the other one.
        for r in results:
            os.unlink(r["mcap"])
            os.unlink(r["summary"])
        events = os.path.join(work, "events3")
        os.makedirs(events)
        out = {}

        def run():
            out["results"] = lookout_fleet.run_fleet(entries, lookout, events_dir=events, progress=False)

        t = threading.Thread(target=run)
        t.start()
        deadline = time.time() + 300
        # Both workers busy (two attempts started, none finished): remove one.
        while len(common.attempts(events)) < 2 and time.time() < deadline:
            time.sleep(0.05)
        assert not any(os.path.exists(r["summary"]) for r in results), "finished before the kill"
        cluster.remove_node(workers[0], allow_graceful=False)
        t.join(600)
        assert not t.is_alive()
        path = os.path.join(work, "results3.jsonl")
        lookout_fleet.write_atomic(path, "".join(json.dumps(r) + "\n" for r in out["results"]))
        res = common.check_results(path, entries, reference)
        assert all(r["status"] == "done" for r in res), res
        n = len(common.attempts(events))
        assert n > len(entries), f"{n} attempts: the lost node's task was not retried"
        print(f"quick: worker node removed mid-run: {n} attempts for {len(entries)} recordings, all identical", flush=True)

        # 4. A wrong sha256: a failed record, no retry loop.
        bad = dict(entries[0], sha256="0" * 64, output=os.path.join(work, "out", "bad"))
        (r,) = lookout_fleet.run_fleet([bad], lookout, progress=False)
        assert r["status"] == "failed" and "sha256 mismatch" in r["error"], r
        assert not os.path.exists(r["mcap"])
        print("quick: sha256 mismatch reported, nothing written", flush=True)
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
    print("quick: ok")
