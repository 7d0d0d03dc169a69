"""Shared by the fleet tests: small recordings made by `lookout record`, their manifest, and
the single-machine reference (`lookout replay` run directly)."""

import hashlib
import json
import os
import subprocess


def lookout_bin():
    return os.environ["LOOKOUT"]


def vtest():
    cache = os.environ.get("LOOKOUT_CACHE", os.path.expanduser("~/.cache/lookout"))
    return os.path.join(cache, "data", "vtest.avi")


def make_recordings(work, count, frames):
    """`count` recordings of `frames` vtest frames each, different start times and first
    frames (so every output differs); returns (manifest path, entries)."""
    rec_dir = os.path.join(work, "recordings")
    os.makedirs(rec_dir, exist_ok=True)
    entries = []
    for k in range(count):
        path = os.path.join(rec_dir, f"rec{k}.mcap")
        subprocess.run(
            [lookout_bin(), "record", vtest(), "--fps", "7", "--start-ns", str(1_700_000_000_000_000_000 + k * 10**12),
             "--max-frames", str(frames + k % 2), "--out", path],
            check=True, capture_output=True,
        )
        with open(path, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        entries.append({"input": path, "sha256": sha, "output": os.path.join(work, "out", f"rec{k}")})
    manifest = os.path.join(work, "manifest.jsonl")
    with open(manifest, "w") as f:
        for e in entries:
            f.write(json.dumps(e) + "\n")
    return manifest, entries


def reference_outputs(work, entries):
    """The bytes a single-machine `lookout replay` writes for each recording."""
    ref = []
    for k, e in enumerate(entries):
        out = os.path.join(work, "reference", f"rec{k}.mcap")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        subprocess.run([lookout_bin(), "replay", e["input"], "--out", out, "--no-progress"], check=True, capture_output=True)
        with open(out, "rb") as f:
            ref.append(f.read())
    return ref


def check_results(results_path, entries, reference):
    """Every recording exactly once, done or present, with the reference's bytes."""
    with open(results_path) as f:
        results = [json.loads(line) for line in f]
    assert [r["input"] for r in results] == [e["input"] for e in entries], results
    for r, want in zip(results, reference):
        assert r["status"] in ("done", "present"), r
        with open(r["mcap"], "rb") as f:
            assert f.read() == want, f"{r['mcap']} differs from the single-machine replay"
        assert os.path.exists(r["summary"]), r
    return results


def attempts(events_dir):
    out = []
    for name in sorted(os.listdir(events_dir)):
        if name.startswith(".tmp-"):
            continue
        with open(os.path.join(events_dir, name)) as f:
            out.append(json.load(f))
    return out
