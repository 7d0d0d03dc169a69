#!/usr/bin/env python3
"""Score MOTChallenge results against ground truth with motmetrics (the independent evaluator).

Usage (in the venv-mot interpreter, motmetrics==1.4.0, numpy<2):
    mot_eval.py --pair NAME GT.txt RESULT.txt [--pair ...] [--json OUT.json]

Ground truth rows with confidence 0 are ignored (min_confidence=1); a hypothesis matches a
ground truth box when IoU >= 0.5 (motmetrics distance 1 - IoU <= 0.5). Prints a table and one
JSON object {NAME: {mota, idf1, num_switches, ...}} on the last line of stdout; with
--overall also motmetrics' OVERALL row (every sequence as one: counts summed) under "OVERALL".
"""

import argparse
import json
import os
import sys

import motmetrics as mm
import pandas as pd

METRICS = [
    "mota",
    "motp",
    "idf1",
    "num_switches",
    "num_false_positives",
    "num_misses",
    "num_objects",
    "mostly_tracked",
    "mostly_lost",
    "num_fragmentations",
    "num_unique_objects",
]


def load(path, is_gt):
    if os.path.getsize(path) == 0:
        # motmetrics cannot read an empty file; an empty result is a valid (terrible) answer.
        idx = pd.MultiIndex.from_arrays([[], []], names=["FrameId", "Id"])
        return pd.DataFrame(
            columns=["X", "Y", "Width", "Height", "Confidence", "ClassId", "Visibility"],
            index=idx,
        )
    if is_gt:
        return mm.io.loadtxt(path, fmt="mot15-2D", min_confidence=1)
    return mm.io.loadtxt(path, fmt="mot15-2D")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pair", nargs=3, action="append", metavar=("NAME", "GT", "RESULT"), required=True)
    ap.add_argument("--json", help="also write the JSON object to this file")
    ap.add_argument("--overall", action="store_true", help="also the OVERALL row of all pairs")
    args = ap.parse_args()

    mh = mm.metrics.create()
    out = {}
    accs, names = [], []
    for name, gt_path, res_path in args.pair:
        gt = load(gt_path, True)
        res = load(res_path, False)
        acc = mm.utils.compare_to_groundtruth(gt, res, "iou", distth=0.5)
        accs.append(acc)
        names.append(name)
    summary = mh.compute_many(accs, names=names, metrics=METRICS, generate_overall=args.overall)
    if args.overall:
        names = names + ["OVERALL"]
    for name in names:
        row = summary.loc[name]
        out[name] = {m: (float(row[m]) if m in ("mota", "motp", "idf1") else int(row[m])) for m in METRICS}
    print(
        mm.io.render_summary(summary, formatters=mh.formatters, namemap=mm.io.motchallenge_metric_names),
        file=sys.stderr,
    )
    text = json.dumps(out, sort_keys=True)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
