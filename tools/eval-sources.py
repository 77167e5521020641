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
    tools/eval-sources.py pred.tsv MANIFEST.tsv [--split val] [--prefix real:]
        [--by source|source-label]

--prefix keeps the sources starting with it; --by source-label splits each
source by class as well. A source with no "source" column value is "?".
The manifest is read as clar-eval reads it (python/clar/data.py).
"""
import argparse
import collections
import csv
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python"))
from clar.data import read_manifest  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("predictions")
    ap.add_argument("manifest")
    ap.add_argument("--split", default="", help="only this test split")
    ap.add_argument("--prefix", default="", help="only sources starting with this")
    ap.add_argument("--by", choices=("source", "source-label"), default="source")
    o = ap.parse_args()
    try:
        # Paths resolved against the manifest's folder, as clar-eval's.
        source = {os.path.normpath(c.path): c.source or "?" for c in read_manifest(o.manifest, split=None)}
    except (OSError, ValueError, UnicodeDecodeError) as e:
        sys.exit(f"eval-sources.py: {o.manifest}: {e}")
    groups = collections.OrderedDict()
    unknown = 0
    try:
        with open(o.predictions, newline="", encoding="utf-8") as f:
            rd = csv.DictReader(f, delimiter="\t")
            need = {"split", "path", "label", "head", "probe"}
            if not rd.fieldnames or not need <= set(rd.fieldnames):
                sys.exit(f"eval-sources.py: {o.predictions}: not clar-eval --predictions output "
                         f"(columns {', '.join(sorted(need))})")
            for r in rd:
                if o.split and r["split"] != o.split:
                    continue
                src = source.get(os.path.normpath(r["path"]))
                if src is None:
                    unknown += 1
                    src = "?"
                if o.prefix and not src.startswith(o.prefix):
                    continue
                key = (r["split"], src) + ((r["label"],) if o.by == "source-label" else ())
                g = groups.setdefault(key, [0, 0, 0, 0])
                g[0] += 1
                g[1] += r["head"] == r["label"]
                if r["probe"] != "-":
                    g[2] += 1
                    g[3] += r["probe"] == r["label"]
    except (OSError, UnicodeDecodeError) as e:
        sys.exit(f"eval-sources.py: {o.predictions}: {e}")
    if unknown:
        print(f"eval-sources.py: {unknown} predicted clips are not in {o.manifest} (source '?')",
              file=sys.stderr)
    if not groups:
        sys.exit("eval-sources.py: no clip left to report")
    cols = ["split", "source"] + (["label"] if o.by == "source-label" else []) + ["clips", "head", "probe"]
    print("\t".join(cols))
    for key in sorted(groups):
        n, h, np_, p = groups[key]
        print("\t".join(list(key) + [str(n), f"{h / n:.3f}", f"{p / np_:.3f}" if np_ else "-"]))


if __name__ == "__main__":
    main()
