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
(background, left out). A class of the split that the model does not
name (clar-eval prints "-" for its head) counts its clips as head errors.

Beside the micro figures: the number of classes, the head accuracy
averaged over the domain's classes (macro: on `val` 61 of the 106 effect
clips are of one class, so the micro figure is mostly that class's), and a
95% Wilson score interval of the micro head accuracy (E. B. Wilson, 1927,
"Probable inference, the law of succession, and statistical inference",
JASA 22: 209-212), which says how far apart two models must be before the
clip count can tell them apart. Where a split has all three domains, a row
`mean` gives the unweighted mean of their figures: the selection measure
of models/README.md, which the hidden sets, scored per domain, resemble.

  tools/eval-domains.py [--exclude CLASS[,CLASS...]] EVAL.txt [EVAL2.txt ...]
                                                       (clar-eval's stdout)

--exclude leaves the named classes out of every figure, so that models
with different label sets can be compared on the classes all of them
name (a checkpoint without a label counts that label's clips as head
errors otherwise); a name that no report's table has is refused.
"""
import math
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "data"))
from build_data import domain_of, gm_families  # noqa: E402

# A class the model does not name has "-" as its head accuracy: its clips
# count as head errors here (a scorer of the hidden sets counts them wrong),
# while clar-eval's overall head figure leaves them out.
ROW = re.compile(r"^\s+(\S+)\s+(\d+)\s+([0-9.]+|-)\s+([0-9.]+)\s*$")


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
                    head = 0.0 if m.group(3) == "-" else float(m.group(3))
                    out.setdefault(split, {})[m.group(1)] = (int(m.group(2)), head, float(m.group(4)))
                else:
                    in_table = False
    return out


def wilson(p, n, z=1.959964):
    """95% Wilson score interval of a proportion p observed over n trials."""
    if n <= 0:
        return 0.0, 1.0
    den = 1.0 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, mid - half), min(1.0, mid + half)


def summarise(per_class, fams):
    """{domain: (clips, head, probe, classes, macro head)}, micro over the
    domain's clips; macro over its classes that have clips."""
    acc = {}
    for name, (n, head, probe) in per_class.items():
        d = domain_of(name, fams)
        if d is None or n <= 0:
            continue
        a = acc.setdefault(d, [0, 0.0, 0.0, 0, 0.0])
        a[0] += n
        a[1] += n * head
        a[2] += n * probe
        a[3] += 1
        a[4] += head
    return {d: (a[0], a[1] / a[0], a[2] / a[0], a[3], a[4] / a[3]) for d, a in acc.items() if a[0]}


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    exclude, paths = set(), []
    while argv:
        opt = argv.pop(0)
        if not opt.startswith("--exclude"):
            paths.append(opt)
            continue
        if "=" in opt:
            value = opt.split("=", 1)[1]
        elif argv:
            value = argv.pop(0)
        else:
            print("eval-domains: --exclude needs a class list", file=sys.stderr)
            return 2
        exclude.update(c for c in value.split(",") if c)
    if not paths:
        print("eval-domains: no report given", file=sys.stderr)
        return 2
    reports = []
    for path in paths:
        try:
            per = parse(path)
        except (OSError, UnicodeDecodeError) as e:
            print(f"eval-domains: cannot read {path}: {e}", file=sys.stderr)
            return 1
        if not per:
            print(f"eval-domains: no per-class table in {path}", file=sys.stderr)
            return 1
        reports.append((path, per))
    seen = {c for _, per in reports for table in per.values() for c in table}
    unknown = sorted(exclude - seen)
    if unknown:
        print(f"eval-domains: --exclude names a class no report has: {', '.join(unknown)}",
              file=sys.stderr)
        return 1
    fams = gm_families()
    domains = ("words", "instruments", "effects")
    print("report\tsplit\tdomain\tclips\thead\tprobe\tclasses\thead_macro\thead_ci95")
    for path, per in reports:
        for split, table in per.items():
            s = summarise({c: v for c, v in table.items() if c not in exclude}, fams)
            for d in domains:
                if d in s:
                    n, h, p, k, hm = s[d]
                    lo, hi = wilson(h, n)
                    print(f"{path}\t{split}\t{d}\t{n}\t{h:.3f}\t{p:.3f}\t{k}\t{hm:.3f}\t{lo:.3f}-{hi:.3f}")
            if all(d in s for d in domains):
                mean = [sum(s[d][i] for d in domains) / 3 for i in (1, 2, 4)]
                print(f"{path}\t{split}\tmean\t{sum(s[d][0] for d in domains)}\t{mean[0]:.3f}\t"
                      f"{mean[1]:.3f}\t{sum(s[d][3] for d in domains)}\t{mean[2]:.3f}\t-")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
