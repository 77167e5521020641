#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Are two event systems' F1 on the same scenes really different? A paired
bootstrap over the scenes (Efron & Tibshirani, "An Introduction to the
Bootstrap", 1993, ch. 16; resampling the test items, here whole scene
files, as is usual for comparing two systems scored on one test set).

Both systems' events are scored per scene file with sed_metrics.py's
event-based counts (TP, FP, FN; sed_eval/DCASE collars). Each of --rounds
resamples draws as many scene files as there are, with replacement, the
same draw for both systems, and sums the counts into each system's micro
event F1; the difference B - A over the rounds gives a percentile
interval (--level, default 95%) and the share of rounds in which B is at
least as good as A. The scenes are the unit because events in one scene
share its noise and its mix; a class with few events moves F1 by several
points, which the interval shows.

  compare.py REFERENCE.tsv A.jsonl B.jsonl [--ignore silence,noise]
             [--classes a,b,...] [--rounds 5000] [--seed 1] [--level 0.95]
             [--json OUT.json]

--classes keeps only those reference and system classes (e.g. the
classes whose head accuracy is >= 0.9). Prints one line per system
(micro event F1 on all scenes) and one for the difference.
"""
import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sed_metrics  # noqa: E402


def per_file_counts(reference, system):
    """{file: (tp, fp, fn)} of the event-based micro counts, for every
    file of the reference (a file without system events counts its misses)."""
    out = {}
    for f in sorted({e[0] for e in reference}):
        r = sed_metrics.evaluate([e for e in reference if e[0] == f],
                                 [e for e in system if e[0] == f])["event"]["micro"]
        out[f] = (r["tp"], r["fp"], r["fn"])
    return out


def micro_f1(counts, files):
    tp = sum(counts[f][0] for f in files)
    fp = sum(counts[f][1] for f in files)
    fn = sum(counts[f][2] for f in files)
    return sed_metrics.f1(tp, fp, fn) or 0.0


def compare(reference, sys_a, sys_b, rounds=5000, seed=1, level=0.95):
    """The paired bootstrap: a dict with both F1s on all files, the
    difference, its percentile interval and P(B >= A) over the rounds."""
    a = per_file_counts(reference, sys_a)
    b = per_file_counts(reference, sys_b)
    files = sorted(a)
    if not files:
        raise ValueError("no reference events")
    rng = random.Random(seed)
    diffs = []
    for _ in range(rounds):
        draw = [files[rng.randrange(len(files))] for _ in files]
        diffs.append(micro_f1(b, draw) - micro_f1(a, draw))
    diffs.sort()
    lo = diffs[int((1 - level) / 2 * rounds)]
    hi = diffs[min(rounds - 1, int((1 + level) / 2 * rounds))]
    fa, fb = micro_f1(a, files), micro_f1(b, files)
    return {"files": len(files), "f1_a": fa, "f1_b": fb, "diff": fb - fa,
            "interval": [lo, hi], "level": level, "rounds": rounds,
            "p_b_at_least_a": sum(d >= 0 for d in diffs) / rounds}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reference")
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--ignore", default="silence,noise")
    ap.add_argument("--classes", default="")
    ap.add_argument("--rounds", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--level", type=float, default=0.95)
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    if a.rounds < 1 or not 0 < a.level < 1:
        ap.error("--rounds must be >= 1 and --level in (0, 1)")
    ignore = {x for x in a.ignore.split(",") if x}
    keep = {x for x in a.classes.split(",") if x}

    def sel(events):
        return [e for e in events if not keep or e[3] in keep]

    try:
        ref = sel(sed_metrics.read_events(a.reference, ignore))
        sa = sel(sed_metrics.read_events(a.a, ignore))
        sb = sel(sed_metrics.read_events(a.b, ignore))
        r = compare(ref, sa, sb, a.rounds, a.seed, a.level)
    except (OSError, ValueError) as e:
        print(f"compare: {e}", file=sys.stderr)
        return 1
    pct = round(100 * a.level)
    print(f"A {a.a}: event F1 {r['f1_a']:.3f}")
    print(f"B {a.b}: event F1 {r['f1_b']:.3f}")
    print(f"B - A: {r['diff']:+.3f}, {pct}% interval {r['interval'][0]:+.3f} .. "
          f"{r['interval'][1]:+.3f} ({r['files']} scenes resampled {r['rounds']} times); "
          f"B >= A in {100 * r['p_b_at_least_a']:.1f}% of the rounds")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(r, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
