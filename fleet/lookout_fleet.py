#!/usr/bin/env python3
"""Fleet replay on Ray: one Ray task per recording, each running the `lookout` binary.

Usage (on a Ray cluster, e.g. through `ray job submit -- python fleet/lookout_fleet.py ...`):

    lookout_fleet.py --manifest recordings.jsonl --results results.jsonl \
        --lookout /opt/lookout/bin/lookout [--config lookout.param.yaml] [-- replay args...]

Manifest: JSON lines `{"input": PATH, "sha256": HEX, "output": DIR}`, one per recording (the
shard unit: tracking is stateful, a recording is never split here; see `lookout replay
--detect-only` for time slices of one very long recording). Paths travel through Ray, never
bytes: every node must see the inputs, the output folders and the binary at the same paths
(a shared file system, or the same image on every node).

Each recording's results are keyed by (input sha256, lookout version, config hash):
`DIR/<sha256>-v<version>-c<config hash>.mcap` and `.summary.json`. lookout writes both
atomically (temporary name, then rename; the summary last), so a present summary means a
complete result: such a recording is skipped (resume after a crash or a new manifest line),
on the driver before submitting and again in the task (a retried task whose first attempt
finished). The input's sha256 is checked in the task before replaying.

Ray retries a task whose worker or node died (`--max-retries`, Ray's `max_retries`); a
replay that fails (lookout's exit status) is reported, not retried: it would fail again.
The results manifest (JSON lines, manifest order, written atomically) gives each recording's
status (`done`, `present`, `failed`), outputs, node and time. Exit status: 0 when every
recording is done or present, 1 otherwise.
"""

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

HEX = set("0123456789abcdef")


class ManifestError(ValueError):
    """A manifest line that cannot be used (the message names the file and line)."""


def sha256_file(path, chunk_bytes=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk_bytes)
            if not block:
                return h.hexdigest()
            h.update(block)


def read_manifest(path):
    """The manifest's entries, each checked: input, a 64-digit lowercase sha256, output."""
    entries = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                e = json.loads(line)
            except json.JSONDecodeError as err:
                raise ManifestError(f"{path}:{n}: not JSON: {err}") from None
            if not isinstance(e, dict):
                raise ManifestError(f"{path}:{n}: expected an object")
            for key in ("input", "sha256", "output"):
                if not isinstance(e.get(key), str) or not e[key]:
                    raise ManifestError(f"{path}:{n}: `{key}` missing or not a string")
            if len(e["sha256"]) != 64 or not set(e["sha256"]) <= HEX:
                raise ManifestError(f"{path}:{n}: sha256 `{e['sha256']}` is not 64 lowercase hex digits")
            entries.append({"input": e["input"], "sha256": e["sha256"], "output": e["output"]})
    return entries


def lookout_version(lookout):
    out = subprocess.run([lookout, "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split()[-1]


def config_hash(config_path, lookout_args):
    """sha256 (16 digits) of the configuration file's bytes and the extra replay arguments."""
    h = hashlib.sha256()
    h.update(json.dumps(list(lookout_args)).encode())
    h.update(b"\0")
    if config_path:
        with open(config_path, "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:16]


def output_paths(entry, version, chash):
    key = f"{entry['sha256']}-v{version}-c{chash}"
    base = os.path.join(entry["output"], key)
    return base + ".mcap", base + ".summary.json"


def is_present(entry, version, chash):
    mcap, summary = output_paths(entry, version, chash)
    return os.path.exists(summary) and os.path.exists(mcap)


def replay_shard(entry, lookout, config_path, lookout_args, version, chash, events_dir=None):
    """One recording: skip when present, check the sha256, run `lookout replay`. Returns the
    result record; a failed replay is a `failed` record, not an exception (not retried)."""
    started = time.time()
    node = socket.gethostname()
    try:
        import ray

        node = ray.util.get_node_ip_address()
    except Exception:  # outside Ray (tests call this directly)
        pass
    if events_dir:
        # One file per attempt (the tests use them to see where and when attempts ran).
        name = f"start-{entry['sha256'][:16]}-{os.getpid()}-{time.time_ns()}.json"
        event = {"sha256": entry["sha256"], "node": node, "pid": os.getpid()}
        write_atomic(os.path.join(events_dir, name), json.dumps(event))
    mcap, summary = output_paths(entry, version, chash)
    record = dict(entry, mcap=mcap, summary=summary, node=node)
    if is_present(entry, version, chash):
        return dict(record, status="present", wall_s=0.0)
    try:
        actual = sha256_file(entry["input"])
    except OSError as err:
        return dict(record, status="failed", error=f"cannot read input: {err}", wall_s=time.time() - started)
    if actual != entry["sha256"]:
        return dict(
            record,
            status="failed",
            error=f"sha256 mismatch: manifest {entry['sha256']}, file {actual}",
            wall_s=time.time() - started,
        )
    os.makedirs(entry["output"], exist_ok=True)
    cmd = [lookout, "replay", entry["input"], "--out", mcap, "--summary-json", summary, "--no-progress"]
    if config_path:
        cmd += ["--config", config_path]
    cmd += list(lookout_args)
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall_s = time.time() - started
    if p.returncode != 0:
        return dict(record, status="failed", error=f"lookout exit {p.returncode}: {p.stderr[-2000:]}", wall_s=wall_s)
    return dict(record, status="done", wall_s=wall_s)


def write_atomic(path, text):
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-" + os.path.basename(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def run_fleet(entries, lookout, config_path=None, lookout_args=(), max_retries=3, events_dir=None, progress=True):
    """Replays `entries` on the connected Ray cluster; returns the result records in manifest
    order."""
    import ray
    from tqdm import tqdm

    version = lookout_version(lookout)
    chash = config_hash(config_path, lookout_args)
    results = [None] * len(entries)
    # By value: workers need not find this file on their sys.path (only the binary's path).
    if __name__ != "__main__":
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    task = ray.remote(num_cpus=1, max_retries=max_retries)(replay_shard)
    pending = {}
    for i, e in enumerate(entries):
        if is_present(e, version, chash):
            mcap, summary = output_paths(e, version, chash)
            results[i] = dict(e, mcap=mcap, summary=summary, node=None, status="present", wall_s=0.0)
        else:
            ref = task.remote(e, lookout, config_path, list(lookout_args), version, chash, events_dir)
            pending[ref] = i
    bar = tqdm(total=len(entries), initial=len(entries) - len(pending), unit="rec", disable=not progress, file=sys.stderr)
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            i = pending.pop(ref)
            try:
                results[i] = ray.get(ref)
            except Exception as err:  # retries used up (worker or node lost each time)
                mcap, summary = output_paths(entries[i], version, chash)
                results[i] = dict(entries[i], mcap=mcap, summary=summary, node=None, status="failed", error=repr(err)[-2000:])
            bar.update(1)
    bar.close()
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", required=True, help="JSON lines: input, sha256, output")
    ap.add_argument("--results", required=True, help="results manifest to write (JSON lines)")
    ap.add_argument("--lookout", required=True, help="the lookout binary (same path on every node)")
    ap.add_argument("--config", help="lookout parameter file (same path on every node)")
    ap.add_argument("--address", help="Ray cluster address (default: the job's cluster, or a local one)")
    ap.add_argument("--max-retries", type=int, default=3, help="Ray retries of a task whose worker or node died")
    ap.add_argument("--events", help="folder for one start record per attempt (diagnostics)")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("lookout_args", nargs="*", help="extra `lookout replay` arguments (after --)")
    args = ap.parse_args(argv)
    import ray

    entries = read_manifest(args.manifest)
    ray.init(address=args.address, log_to_driver=False)
    started = time.time()
    results = run_fleet(
        entries,
        args.lookout,
        args.config,
        args.lookout_args,
        max_retries=args.max_retries,
        events_dir=args.events,
        progress=not args.no_progress,
    )
    write_atomic(args.results, "".join(json.dumps(r, sort_keys=True) + "\n" for r in results))
    counts = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    print(
        f"fleet: {len(results)} recordings in {time.time() - started:.1f} s: "
        + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        + f" -> {args.results}"
    )
    return 0 if all(r["status"] in ("done", "present") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
