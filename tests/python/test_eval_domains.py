#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""tools/eval-domains.py on a clar-eval report written here: per-domain
micro accuracies computed by hand, background classes left out, the
confusion lists after the table not read as classes, both splits, the
class count, macro head accuracy and 95% Wilson interval beside them, the
three-domain mean only where a split has all three, --exclude leaving named
classes out wherever it stands (and refusing a name no table has), and a
file that cannot be read or has no table refused without a traceback."""
import os
import subprocess
import sys
import tempfile

from clar_testutil import ROOT, Checks

TOOL = os.path.join(ROOT, "tools", "eval-domains.py")
check = Checks()

REPORT = """model m.safetensors
split val: 9 test clips (source-disjoint: sources never trained on)
          model  random-init
knn1     0.5000       0.2000
head 0.5000 (9 clips of classes the model names)
per-class accuracy (clips, head, probe):
  bass                        10  0.400  0.300
  flute                       30  0.800  0.600
  seven                       20  0.500  1.000
  yes                         20  1.000  0.500
  door                         4  0.250  0.500
  noise                       12  1.000  1.000
most confused, head (true -> predicted, count):
  bass -> keyboard 28

split val-src: 3 test clips (within-source: held-out programs, voices, folders)
per-class accuracy (clips, head, probe):
  reed                         2  0.500  1.000
  silence                      5  1.000  1.000
"""

with tempfile.TemporaryDirectory() as tmp:
    rep = os.path.join(tmp, "eval.txt")
    with open(rep, "w") as f:
        f.write(REPORT)
    r = subprocess.run([sys.executable, TOOL, rep], capture_output=True, text=True)
    check("exits 0", r.returncode == 0)
    full = {tuple(line.split("\t")[1:3]): line.split("\t")[3:] for line in r.stdout.splitlines()[1:]}
    rows = {k: v[:3] for k, v in full.items()}
    # instruments: (10*0.4 + 30*0.8) / 40 = 0.7 head, (3 + 18) / 40 = 0.525 probe
    check("instruments on val: 40 clips, head 0.700, probe 0.525",
          rows.get(("val", "instruments")) == ["40", "0.700", "0.525"])
    # words: (10 + 20) / 40 = 0.75 head, (20 + 10) / 40 = 0.75 probe
    check("words on val: 40 clips, head 0.750, probe 0.750",
          rows.get(("val", "words")) == ["40", "0.750", "0.750"])
    check("effects on val: door alone", rows.get(("val", "effects")) == ["4", "0.250", "0.500"])
    check("val-src read, silence left out", rows.get(("val-src", "instruments")) == ["2", "0.500", "1.000"]
          and ("val-src", "effects") not in rows)
    check("the confusion list is not a class", len(rows) == 5)
    # instruments: 2 classes, macro (0.4 + 0.8) / 2 = 0.6; Wilson 95% of 28 of 40:
    # centre (0.7 + z^2/80) / (1 + z^2/40) = 0.6825, half-width 0.1368 (z = 1.96)
    check("instruments: 2 classes, macro head 0.600, interval 0.546-0.819",
          full.get(("val", "instruments"), [])[3:] == ["2", "0.600", "0.546-0.819"])
    check("effects: one class of 4 clips, wide interval",
          full.get(("val", "effects"), [])[3:] == ["1", "0.250", "0.046-0.699"])
    # mean of the domains: head (0.75 + 0.7 + 0.25) / 3, probe (0.75 + 0.525 + 0.5) / 3,
    # macro (0.75 + 0.6 + 0.25) / 3; clips and classes summed
    check("val's mean row: the three domains unweighted",
          full.get(("val", "mean")) == ["84", "0.567", "0.592", "5", "0.533", "-"])
    check("no mean row for a split without all three domains", ("val-src", "mean") not in full)
    # A class the model does not name ("-" head): its clips are head errors,
    # and the rows after it are still read.
    rep2 = os.path.join(tmp, "eval2.txt")
    with open(rep2, "w") as f:
        f.write("split val: 8 test clips\nper-class accuracy (clips, head, probe):\n"
                "  door                         4  0.750  0.500\n"
                "  pain_grunt                   4      -  0.250\n"
                "  pig                          2  0.500  1.000\n")
    r = subprocess.run([sys.executable, TOOL, rep2], capture_output=True, text=True)
    eff = next((l.split("\t")[3:8] for l in r.stdout.splitlines() if "\teffects\t" in l), None)
    # head (3 + 0 + 1) / 10, probe (2 + 1 + 2) / 10, 3 classes, macro (0.75 + 0 + 0.5) / 3
    check(f"a class the model lacks counts as head errors, the table read on: {eff}",
          eff == ["10", "0.400", "0.500", "3", "0.417"])
    # --exclude: the named classes leave every figure (models with different
    # label sets compared on the classes both name); a name no table has is
    # refused, so a misspelt class cannot leave the figures unchanged unnoticed.
    r = subprocess.run([sys.executable, TOOL, "--exclude", "pain_grunt", rep2],
                       capture_output=True, text=True)
    eff = next((l.split("\t")[3:8] for l in r.stdout.splitlines() if "\teffects\t" in l), None)
    # door and pig: head (3 + 1) / 6, probe (2 + 2) / 6, 2 classes, macro (0.75 + 0.5) / 2
    check(f"--exclude pain_grunt: door and pig only: {eff}",
          r.returncode == 0 and eff == ["6", "0.667", "0.667", "2", "0.625"])
    r = subprocess.run([sys.executable, TOOL, "--exclude=door", rep2], capture_output=True, text=True)
    eff = next((l.split("\t")[3:8] for l in r.stdout.splitlines() if "\teffects\t" in l), None)
    # pain_grunt and pig: head (0 + 1) / 6, probe (1 + 2) / 6, macro (0 + 0.5) / 2
    check(f"--exclude=door: pain_grunt and pig only: {eff}",
          r.returncode == 0 and eff == ["6", "0.167", "0.500", "2", "0.250"])
    r = subprocess.run([sys.executable, TOOL, "--exclude", "pain_grnt", rep2], capture_output=True, text=True)
    check("--exclude with a class no report has: exit 1, named",
          r.returncode == 1 and "pain_grnt" in r.stderr and not r.stdout)
    r = subprocess.run([sys.executable, TOOL, "--exclude"], capture_output=True, text=True)
    check("--exclude without a list: exit 2, said", r.returncode == 2 and "class list" in r.stderr)
    r = subprocess.run([sys.executable, TOOL, rep2, "--exclude", "pain_grunt"], capture_output=True, text=True)
    eff = next((l.split("\t")[3:8] for l in r.stdout.splitlines() if "\teffects\t" in l), None)
    check(f"--exclude after the report: the same figures: {eff}",
          r.returncode == 0 and eff == ["6", "0.667", "0.667", "2", "0.625"])
    missing = os.path.join(tmp, "missing.txt")
    r = subprocess.run([sys.executable, TOOL, missing], capture_output=True, text=True)
    check("a report that cannot be read: exit 1, named, no traceback",
          r.returncode == 1 and missing in r.stderr and "Traceback" not in r.stderr and not r.stdout)
    bad = os.path.join(tmp, "bad.txt")
    with open(bad, "w") as f:
        f.write("clar-eval: cannot open model\n")
    r = subprocess.run([sys.executable, TOOL, bad], capture_output=True, text=True)
    check("a report without a per-class table: exit 1, said", r.returncode == 1 and "no per-class table" in r.stderr)

check.exit()
