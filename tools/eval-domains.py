#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Per-domain accuracies from clar-eval's report (issue 18): the hidden sets
are scored per domain (spoken words, instrument families, sound effects),
while clar-eval's overall figures weigh domains by their clip counts (on
`val` the instruments are two thirds of the clips). For each split and
domain: clips, head and probe accuracy over those clips (micro), from the
per-class table.

Domains: words = build_data.py's WORDS; instruments = the families of
tables/gm-families.tsv; effects = every other class but silence and noise
(background, left out).

  tools/eval-domains.py EVAL.txt [EVAL2.txt ...]     (clar-eval's stdout)
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "data"))
from build_data import WORDS  # noqa: E402

BACKGROUND = {"silence", "noise"}
ROW = re.compile(r"^\s+(\S+)\s+(\d+)\s+([0-9.]+)\s+([0-9.]+)\s*$")


def families():
    with open(os.path.join(HERE, "data", "tables", "gm-families.tsv")) as f:
        return {line.split("\t")[1] for line in list(f)[1:] if line.strip()}


def parse(path):
    """{split: {class: (clips, head, probe)}} from clar-eval's per-class tables."""
    out, split, in_table = {}, None, False
    with open(path) as f:
        for line in f:
            if line.startswith("split "):
                split, in_table = line.split()[1].rstrip(":"), False
            elif line.startswith("per-class accuracy"):
                in_table = split is not None
            elif in_table:
                m = ROW.match(line)
                if m:
                    out.setdefault(split, {})[m.group(1)] = (
                        int(m.group(2)), float(m.group(3)), float(m.group(4)))
                else:
                    in_table = False
    return out


def domain_of(name, fams):
    if name in BACKGROUND:
        return None
    if name in WORDS:
        return "words"
    return "instruments" if name in fams else "effects"


def summarise(per_class, fams):
    """{domain: (clips, head, probe)}, micro over the domain's clips."""
    acc = {}
    for name, (n, head, probe) in per_class.items():
        d = domain_of(name, fams)
        if d is None:
            continue
        a = acc.setdefault(d, [0, 0.0, 0.0])
        a[0] += n
        a[1] += n * head
        a[2] += n * probe
    return {d: (a[0], a[1] / a[0], a[2] / a[0]) for d, a in acc.items() if a[0]}


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    fams = families()
    print("report\tsplit\tdomain\tclips\thead\tprobe")
    for path in argv:
        per = parse(path)
        if not per:
            print(f"eval-domains: no per-class table in {path}", file=sys.stderr)
            return 1
        for split, table in per.items():
            s = summarise(table, fams)
            for d in ("words", "instruments", "effects"):
                if d in s:
                    n, h, p = s[d]
                    print(f"{path}\t{split}\t{d}\t{n}\t{h:.3f}\t{p:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
