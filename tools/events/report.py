#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Per-class table of a sound-event evaluation (tools/events/evaluate.sh):
the window head accuracy on the clips the scenes were made of (top label of
the clip's first window, from clar-embed --top-k 1 over the clips alone,
each padded with 1 s of silence: CLIPS.tsv maps clip to padded file),
event-based and segment-based F1 (sed_metrics.py's JSON), and both F1
micro-averaged over the classes whose head accuracy is at least --min-acc.

  report.py METRICS.json REFERENCE.tsv CLIPS.tsv CLIP_WINDOWS.jsonl [--min-acc 0.9]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sed_metrics import f1  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("metrics")
    ap.add_argument("reference")
    ap.add_argument("clips")
    ap.add_argument("clip_windows")
    ap.add_argument("--min-acc", type=float, default=0.9)
    a = ap.parse_args(argv)
    m = json.load(open(a.metrics))
    padded = dict(l.rstrip("\n").split("\t") for l in open(a.clips, encoding="utf-8"))
    clip_label = {}
    for r in [l.rstrip("\n").split("\t") for l in open(a.reference, encoding="utf-8")][1:]:
        clip_label[os.path.abspath(padded[r[5]])] = r[3]
    first = {}
    for line in open(a.clip_windows, encoding="utf-8"):
        d = json.loads(line)
        p = os.path.abspath(d["file"])
        if p not in first:
            first[p] = d["labels"][0]["name"] if d["labels"] else None
    acc = {}
    for p, lab in clip_label.items():
        if p in first:
            acc.setdefault(lab, []).append(first[p] == lab)
    ev, sg = m["event"]["class"], m["segment"]["class"]
    sel = [0, 0, 0], [0, 0, 0]
    print(f"{'class':<14} {'clips':>5} {'head acc':>8} {'events':>6} {'event F1':>9} {'segment F1':>11}")
    for c in m["reference_classes"]:
        hits = acc.get(c, [])
        ha = sum(hits) / len(hits) if hits else None
        e, s = ev[c], sg[c]
        if ha is not None and ha >= a.min_acc:
            for k, key in enumerate(("tp", "fp", "fn")):
                sel[0][k] += e[key]
                sel[1][k] += s[key]
        print(f"{c:<14} {len(hits):>5} {('-' if ha is None else f'{ha:.2f}'):>8} "
              f"{e['tp'] + e['fn']:>6} {e['f1']:>9.3f} {s['f1']:>11.3f}")
    me, ms = m["event"]["micro"], m["segment"]["micro"]
    print(f"{'micro, all':<14} {'':>5} {'':>8} {me['tp'] + me['fn']:>6} {me['f1']:>9.3f} {ms['f1']:>11.3f}")
    fe, fs = f1(*sel[0]), f1(*sel[1])
    n = sel[0][0] + sel[0][2]
    print(f"{'micro, acc>=' + format(a.min_acc, 'g'):<14} {'':>5} {'':>8} {n:>6} "
          f"{'-' if fe is None else format(fe, '.3f'):>9} {'-' if fs is None else format(fs, '.3f'):>11}")
    print(f"{'macro, all':<14} {'':>5} {'':>8} {'':>6} {m['event']['macro_f1']:>9.3f} "
          f"{m['segment']['macro_f1']:>11.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
