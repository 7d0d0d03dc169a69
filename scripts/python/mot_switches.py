#!/usr/bin/env python3
"""List the id switches of a MOTChallenge result, classified by what caused them.

Usage (in the venv-mot interpreter, motmetrics==1.4.0, numpy<2):
    mot_switches.py GT.txt RESULT.txt [--list]

Same matching as mot_eval.py (gt conf 0 ignored, IoU >= 0.5). For every SWITCH event
(ground-truth object o, now matched to hypothesis h, last matched to h_prev) it says whether
h_prev was still reported in that frame (a *swap*: two live tracks exchanged objects, an
association error) or not (a *re-id*: the old track was gone, dead or coasting unreported, and
the object came back under another id, a track-management error), and whether h is new (first
frame of that hypothesis: a birth) or an old track taken from another object. Prints counts,
and with --list one line per switch.
"""

import argparse
import os
import sys

import motmetrics as mm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mot_eval import load  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gt")
    ap.add_argument("result")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    gt = load(args.gt, True)
    res = load(args.result, False)
    acc = mm.utils.compare_to_groundtruth(gt, res, "iou", distth=0.5)
    ev = acc.mot_events
    matched = ev[ev.Type.isin(["MATCH", "SWITCH"])]
    last_h = {}  # object id -> last matched hypothesis id
    last_seen = {}  # object id -> last frame it was matched
    first_frame = res.reset_index().groupby("Id").FrameId.min().to_dict()
    hyps_in_frame = res.reset_index().groupby("FrameId").Id.apply(set).to_dict()
    counts = {"swap": 0, "re-id": 0}
    births = 0
    rows = []
    for (frame, _), e in matched.iterrows():
        o, h = e.OId, e.HId
        if e.Type == "SWITCH":
            prev = last_h.get(o)
            live = prev in hyps_in_frame.get(frame, set())
            kind = "swap" if live else "re-id"
            counts[kind] += 1
            born = first_frame.get(h) == frame
            births += born
            gap = frame - last_seen[o] if o in last_seen else 0
            rows.append(f"frame {frame:4d} gt {int(o):3d}: {int(prev)} -> {int(h)} {kind}"
                        f"{' (new track)' if born else ''} gt gap {gap}")
        last_h[o] = h
        last_seen[o] = frame
    if args.list:
        print("\n".join(rows))
    print(f"switches {sum(counts.values())}: swap {counts['swap']}, re-id {counts['re-id']}"
          f" (of which to a newborn track {births})")


if __name__ == "__main__":
    main()
