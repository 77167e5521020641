#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Head and probe accuracy per source, from clar-eval --predictions.

A domain's figure can hide its sources: the words of `val` are 300 clips of
flite voices and 20 of real voices, so the words head says little about
real voices. This groups clar-eval's per-clip predictions by the
manifest's "source" column (e.g. "real:saytime", "flite:flite-kal",
"mined:cube2-data") and prints, per split and source, the clips, the head
accuracy (a clip of a class the head lacks counts as wrong, as in
tools/eval-domains.py) and the probe accuracy.

    clar-eval --model M --data MANIFEST.tsv --predictions pred.tsv ...
    tools/eval-sources.py pred.tsv MANIFEST.tsv [--split val[,val-wide]] [--prefix real:]
        [--by source|source-label] [--pool-splits] [--against REF.tsv]

--prefix keeps the sources starting with it; --by source-label splits each
source by class as well. A source with no "source" column value is "?".
--split takes one split or several, comma-separated; --pool-splits
reports them together (split column "val+val-wide", or "all" without
--split), e.g. one unseen sample set whose notes lie in both `val` and
`val-wide`.
The manifest is read as clar-eval reads it (python/clar/data.py).

--against REF.tsv compares two models clip for clip: REF.tsv is another
model's clar-eval --predictions over the same clips (e.g. a control leg
against a leg with one more training source). Only clips both files
score count; per group it adds the reference's head accuracy, the
difference (this file's minus the reference's), the clips this file's
head gains and loses, and a 95% interval of the difference from the
paired per-clip differences (normal approximation: mean +- 1.96 sd /
sqrt(n), e.g. Agresti, "Categorical Data Analysis", 2002, sec. 10.1).
The interval is over clips only: it does not hold the spread between
training runs, which a second seed measures.
"""
import argparse
import collections
import csv
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python"))
from clar.data import read_manifest  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("predictions")
    ap.add_argument("manifest")
    ap.add_argument("--split", default="", help="only these test splits, comma-separated")
    ap.add_argument("--prefix", default="", help="only sources starting with this")
    ap.add_argument("--by", choices=("source", "source-label"), default="source")
    ap.add_argument("--pool-splits", action="store_true", help="report the --split splits together")
    ap.add_argument("--against", default="", help="another model's predictions over the same clips")
    o = ap.parse_args()
    splits = [x for x in o.split.split(",") if x]
    ref = read_predictions(o.against) if o.against else None
    try:
        # Paths resolved against the manifest's folder, as clar-eval's.
        source = {os.path.normpath(c.path): c.source or "?" for c in read_manifest(o.manifest, split=None)}
    except (OSError, ValueError, UnicodeDecodeError) as e:
        sys.exit(f"eval-sources.py: {o.manifest}: {e}")
    groups = collections.OrderedDict()
    unknown = 0
    unpaired = 0
    pooled = "+".join(splits) or "all"
    for (split, path), r in read_predictions(o.predictions).items():
        if splits and split not in splits:
            continue
        src = source.get(path)
        if src is None:
            unknown += 1
            src = "?"
        if o.prefix and not src.startswith(o.prefix):
            continue
        other = None
        if ref is not None:
            other = ref.get((split, path))
            if other is None or other["label"] != r["label"]:
                unpaired += 1
                continue
        key = (pooled if o.pool_splits else split, src) + ((r["label"],) if o.by == "source-label" else ())
        g = groups.setdefault(key, {"n": 0, "head": 0, "np": 0, "probe": 0, "diffs": []})
        g["n"] += 1
        g["head"] += r["head"] == r["label"]
        if r["probe"] != "-":
            g["np"] += 1
            g["probe"] += r["probe"] == r["label"]
        if other is not None:
            g["diffs"].append(int(r["head"] == r["label"]) - int(other["head"] == other["label"]))
    if unknown:
        print(f"eval-sources.py: {unknown} predicted clips are not in {o.manifest} (source '?')",
              file=sys.stderr)
    if unpaired:
        print(f"eval-sources.py: {unpaired} clips of {o.predictions} are not in {o.against} "
              "with the same label; left out", file=sys.stderr)
    if not groups:
        sys.exit("eval-sources.py: no clip left to report")
    cols = ["split", "source"] + (["label"] if o.by == "source-label" else []) + ["clips", "head", "probe"]
    if ref is not None:
        cols += ["ref_head", "head_diff", "gained", "lost", "diff_ci95"]
    print("\t".join(cols))
    for key in sorted(groups):
        g = groups[key]
        n = g["n"]
        row = list(key) + [str(n), f"{g['head'] / n:.3f}", f"{g['probe'] / g['np']:.3f}" if g["np"] else "-"]
        if ref is not None:
            d = g["diffs"]
            mean = sum(d) / n
            sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1)) if n > 1 else 0.0
            half = 1.96 * sd / math.sqrt(n)
            row += [f"{(g['head'] - sum(d)) / n:.3f}", f"{mean:+.3f}", str(d.count(1)), str(d.count(-1)),
                    f"{mean - half:+.3f}..{mean + half:+.3f}"]
        print("\t".join(row))


def read_predictions(path):
    """{(split, normalised path): row} of a clar-eval --predictions file, or exits saying why."""
    out = {}
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rd = csv.DictReader(f, delimiter="\t")
            need = {"split", "path", "label", "head", "probe"}
            if not rd.fieldnames or not need <= set(rd.fieldnames):
                sys.exit(f"eval-sources.py: {path}: not clar-eval --predictions output "
                         f"(columns {', '.join(sorted(need))})")
            for r in rd:
                out[(r["split"], os.path.normpath(r["path"]))] = r
    except (OSError, UnicodeDecodeError) as e:
        sys.exit(f"eval-sources.py: {path}: {e}")
    return out


if __name__ == "__main__":
    main()
