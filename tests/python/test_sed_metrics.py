#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""tools/events/sed_metrics.py against cases computed by hand from the
sed_eval/DCASE definitions (onset collar 250 ms, offset collar max(250 ms,
20% of the reference length), 1 s segments)."""
import json
import os
import subprocess
import sys
import tempfile

from clar_testutil import ROOT, Checks

sys.path.insert(0, os.path.join(ROOT, "tools", "events"))
import sed_metrics as m  # noqa: E402

check = Checks()


def close(a, b):
    return a is not None and abs(a - b) < 1e-12


def ev(ref, est):
    r = m.evaluate([("f", *x) for x in ref], [("f", *x) for x in est])
    return r["event"], r["segment"]


# Onset within 0.25 s, offset within max(0.25, 0.2 * 2.0 = 0.4): a hit.
e, s = ev([(1.0, 3.0, "dog")], [(1.2, 3.3, "dog")])
check("onset 0.2 off, offset 0.3 off (collar 0.4): TP", e["micro"]["tp"] == 1 and close(e["micro"]["f1"], 1.0))
# Onset 0.3 off: neither a hit; one FP and one FN: F = 0.
e, s = ev([(1.0, 3.0, "dog")], [(1.3, 3.0, "dog")])
check("onset 0.3 off: FP + FN, F1 0", (e["micro"]["tp"], e["micro"]["fp"], e["micro"]["fn"]) == (0, 1, 1)
      and close(e["micro"]["f1"], 0.0))
# Exactly at the collars counts (<=).
e, s = ev([(1.0, 2.0, "dog")], [(1.25, 2.25, "dog")])
check("onset and offset exactly 0.25 off: TP", e["micro"]["tp"] == 1)
# Long reference (10 s): offset collar 2.0 s.
e, _ = ev([(0.0, 10.0, "rain")], [(0.1, 11.9, "rain")])
check("10 s event, offset 1.9 off (collar 2.0): TP", e["micro"]["tp"] == 1)
e, _ = ev([(0.0, 10.0, "rain")], [(0.1, 12.1, "rain")])
check("10 s event, offset 2.1 off: no match", e["micro"]["tp"] == 0)
# Labels must agree.
e, _ = ev([(1.0, 2.0, "dog")], [(1.0, 2.0, "cat")])
check("right times, wrong label: FP and FN", (e["micro"]["tp"], e["micro"]["fp"], e["micro"]["fn"]) == (0, 1, 1))
# One system event matches one reference event at most.
e, _ = ev([(1.0, 2.0, "dog")], [(1.0, 2.0, "dog"), (1.1, 2.1, "dog")])
check("two system events on one reference: 1 TP, 1 FP", (e["micro"]["tp"], e["micro"]["fp"]) == (1, 1))
# Maximum matching, not greedy: X fits A and B, Y only A. Greedy X->A
# would leave Y and B unmatched; the optimum is X->B, Y->A.
e, _ = ev([(0.0, 1.0, "dog"), (0.2, 1.2, "dog")], [(0.1, 1.1, "dog"), (0.0, 0.8, "dog")])
check("optimal matching: 2 TP", e["micro"]["tp"] == 2)

# Micro and macro over classes: dog 1 TP; cat 1 FN; bird 1 FP (not in the
# reference: counts in micro, not in the macro average).
e, _ = ev([(1.0, 2.0, "dog"), (5.0, 6.0, "cat")], [(1.0, 2.0, "dog"), (8.0, 9.0, "bird")])
check("micro F1 = 2*1/(2*1+1+1) = 0.5", close(e["micro"]["f1"], 0.5))
check("per class: dog 1, cat 0, bird 0", close(e["class"]["dog"]["f1"], 1.0)
      and close(e["class"]["cat"]["f1"], 0.0) and close(e["class"]["bird"]["f1"], 0.0))
check("macro over reference classes (dog, cat) = 0.5", close(e["macro_f1"], 0.5))

# Segment-based: reference dog 0.5-2.2 s covers segments 0, 1, 2; the
# system's dog 1.1-1.9 covers segment 1: TP 1, FN 2, F = 2/(2+0+2) = 0.5.
_, s = ev([(0.5, 2.2, "dog")], [(1.1, 1.9, "dog")])
check("segment: TP 1, FN 2", (s["micro"]["tp"], s["micro"]["fp"], s["micro"]["fn"]) == (1, 0, 2))
check("segment F1 0.5", close(s["micro"]["f1"], 0.5))
# ... plus a cat 0-1 s the reference does not have: FP 1, F = 2/(2+1+2).
_, s = ev([(0.5, 2.2, "dog")], [(1.1, 1.9, "dog"), (0.0, 1.0, "cat")])
check("segment micro F1 0.4 with a false cat", close(s["micro"]["f1"], 0.4))
# An event ending exactly on a segment boundary does not touch the next one.
_, s = ev([(1.0, 3.0, "dog")], [(1.0, 2.0, "dog")])
check("segment boundaries: [1,3) vs [1,2): TP 1, FN 1", (s["micro"]["tp"], s["micro"]["fn"]) == (1, 1))
# Event-based and segment-based disagree where they should: a detection
# 0.5 s late misses the event metric but hits most segments.
e, s = ev([(2.0, 6.0, "dog")], [(2.5, 6.0, "dog")])
check("0.5 s late: event F1 0, segment F1 1", close(e["micro"]["f1"], 0.0) and close(s["micro"]["f1"], 1.0))

# Several files: counts add up per file (no matching across files).
r = m.evaluate([("a", 1.0, 2.0, "dog"), ("b", 1.0, 2.0, "dog")],
               [("a", 1.0, 2.0, "dog"), ("c", 1.0, 2.0, "dog")])
check("files: 1 TP (a), 1 FN (b), 1 FP (c)",
      (r["event"]["micro"]["tp"], r["event"]["micro"]["fn"], r["event"]["micro"]["fp"]) == (1, 1, 1))

# The command line: a reference TSV and clar-embed JSON lines, ignored labels.
with tempfile.TemporaryDirectory() as d:
    ref = os.path.join(d, "ref.tsv")
    sysf = os.path.join(d, "sys.jsonl")
    out = os.path.join(d, "res.json")
    with open(ref, "w") as fh:
        fh.write("file\tonset\toffset\tlabel\n/x/scene1.wav\t1.0\t2.0\tdog\n")
    with open(sysf, "w") as fh:
        fh.write(json.dumps({"file": "scene1.wav", "label": "dog", "start": 1.1, "end": 2.1}) + "\n")
        fh.write(json.dumps({"file": "scene1.wav", "label": "silence", "start": 3, "end": 9}) + "\n")
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "events", "sed_metrics.py"),
                        ref, sysf, "--ignore", "silence,noise", "--json", out],
                       capture_output=True, text=True)
    check("command exits 0", p.returncode == 0)
    with open(out) as fh:
        res = json.load(fh)
    check("command: silence ignored, dog matched across paths",
          res["event"]["micro"]["tp"] == 1 and res["event"]["micro"]["fp"] == 0)
    check("command prints a micro row", "micro" in p.stdout)
    with open(sysf, "w") as fh:
        fh.write("{not json\n")
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "events", "sed_metrics.py"),
                        ref, sysf], capture_output=True, text=True)
    check("bad system file: clear error", p.returncode != 0 and "sys.jsonl:1:" in p.stderr)

check.exit()
