#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""clar-eval --predictions and tools/eval-sources.py: per-clip predictions
and accuracy per source. A manifest of tones and noise from named sources
is scored with the shipped model: one row per scored test clip, whose head
column is the top label of the clip's embedding as clar-embed --clip gives
it (an independent path to the same vector), and whose rows agree with the
report's head and probe accuracy; eval-sources.py's per-source counts equal
those counted here from the rows; --json escapes the model's path; bad
input is refused with why."""
import csv
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clar_testutil import BUILD, DEFAULT_MODEL as MODEL, Checks, imports_or_skip, run_tool, write_wav  # noqa: E402

with imports_or_skip():
    import numpy as np

check = Checks()
ev = os.path.join(BUILD, "tools", "clar-eval") if BUILD else None
embed = os.path.join(BUILD, "tools", "clar-embed") if BUILD else None
if not ev or not os.access(ev, os.X_OK) or not os.access(embed, os.X_OK):
    print("skipping: no clar-eval / clar-embed in the build tree")
    sys.exit(77)

with tempfile.TemporaryDirectory() as tmp:
    rng = np.random.default_rng(5)
    t = np.arange(24000) / 16000.0
    rows = ["path\tlabel\tsplit\tsource"]
    n = 0
    for split, srcs in (("train", ("a", "b")), ("val", ("c", "d"))):
        for src in srcs:
            for i in range(4):
                for label in ("flute", "noise"):
                    p = f"{split}/{src}{i}{label}.wav"
                    os.makedirs(os.path.join(tmp, split), exist_ok=True)
                    if label == "flute":
                        x = 0.3 * np.sin(2 * np.pi * (400 + 90 * i + 40 * ord(src)) * t)
                    else:
                        x = (0.05 + 0.05 * i) * rng.standard_normal(t.size)
                    write_wav(os.path.join(tmp, p), x)
                    rows.append(f"{p}\t{label}\t{split}\tsynth:{src}")
                    n += split == "val"
    man = os.path.join(tmp, "manifest.tsv")
    with open(man, "w") as f:
        f.write("\n".join(rows) + "\n")
    pred = os.path.join(tmp, "pred.tsv")
    r = subprocess.run([ev, "--model", MODEL, "--data", man, "--test-split", "val", "--baseline", "none",
                        "--json", "--predictions", pred], capture_output=True, text=True)
    check.ran("clar-eval --predictions runs", r)
    rep = json.loads(r.stdout)
    with open(pred, newline="") as f:
        P = list(csv.DictReader(f, delimiter="\t"))
    check(f"one row per scored val clip ({len(P)} of {n})", len(P) == n and all(p["split"] == "val" for p in P))
    check("the rows' head accuracy is the report's",
          abs(sum(p["head"] == p["label"] for p in P) / n - rep["head"]) < 1e-4)
    check("the rows' probe accuracy is the report's",
          abs(sum(p["probe"] == p["label"] for p in P) / n - rep["probe"]) < 1e-4)
    # The head column against clar-embed --clip's top label of the same files.
    e = subprocess.run([embed, "--model", MODEL, "--clip", "--top-k", "1"] + [p["path"] for p in P],
                       capture_output=True, text=True)
    top = {json.loads(x)["file"]: json.loads(x)["labels"][0]["name"] for x in e.stdout.splitlines()}
    check("the head column is clar-embed --clip's top label, clip for clip",
          e.returncode == 0 and all(top.get(p["path"]) == p["head"] for p in P))
    # Per source.
    r = run_tool("eval-sources.py", pred, man, "--split", "val")
    check("eval-sources.py runs", r.returncode == 0)
    got = {x["source"]: x for x in csv.DictReader(r.stdout.splitlines(), delimiter="\t")}
    ok = sorted(got) == ["synth:c", "synth:d"]
    for src in ("c", "d"):
        mine = [p for p in P if f"/{src}" in p["path"].replace(os.sep, "/")]
        g = got.get(f"synth:{src}")
        ok = ok and g is not None and int(g["clips"]) == len(mine) == 8 \
            and abs(float(g["head"]) - sum(p["head"] == p["label"] for p in mine) / 8) < 1e-3 \
            and abs(float(g["probe"]) - sum(p["probe"] == p["label"] for p in mine) / 8) < 1e-3
    check("per source: the clips and accuracies counted from the rows", ok)
    r = run_tool("eval-sources.py", pred, man, "--by", "source-label", "--prefix", "synth:c")
    labs = [(x["source"], x["label"], x["clips"]) for x in csv.DictReader(r.stdout.splitlines(), delimiter="\t")]
    check("--by source-label --prefix: one source split by class",
          r.returncode == 0 and labs == [("synth:c", "flute", "4"), ("synth:c", "noise", "4")])
    # --against: a reference whose head is right on every clip of source c and
    # wrong on every clip of source d, against this model clip for clip.
    refp = os.path.join(tmp, "ref.tsv")
    with open(refp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(P[0].keys()), delimiter="\t", lineterminator="\n")
        w.writeheader()
        for p in P:
            right = "/c" in p["path"].replace(os.sep, "/")
            w.writerow(dict(p, head=p["label"] if right else ("noise" if p["label"] == "flute" else "flute")))
    r = run_tool("eval-sources.py", pred, man, "--against", refp)
    got = {x["source"]: x for x in csv.DictReader(r.stdout.splitlines(), delimiter="\t")}
    ok = r.returncode == 0 and sorted(got) == ["synth:c", "synth:d"]
    for src, ref_right in (("c", True), ("d", False)):
        mine = [p["head"] == p["label"] for p in P if f"/{src}" in p["path"].replace(os.sep, "/")]
        g = got.get(f"synth:{src}", {})
        gained = 0 if ref_right else sum(mine)
        lost = len(mine) - sum(mine) if ref_right else 0
        diff = (sum(mine) - (8 if ref_right else 0)) / 8
        ok = ok and g.get("ref_head") == ("1.000" if ref_right else "0.000") \
            and int(g.get("gained", -1)) == gained and int(g.get("lost", -1)) == lost \
            and abs(float(g.get("head_diff", "nan")) - diff) < 1e-3
        lo, hi = (float(x) for x in g.get("diff_ci95", "nan..nan").split(".."))
        ok = ok and lo <= diff + 1e-3 and diff - 1e-3 <= hi
    check("--against: reference head, difference, clips gained and lost, interval around it", ok)
    r = run_tool("eval-sources.py", pred, man, "--against", pred)
    rows = list(csv.DictReader(r.stdout.splitlines(), delimiter="\t"))
    check("--against itself: no difference", r.returncode == 0 and rows and all(
        x["head_diff"] == "+0.000" and x["gained"] == "0" and x["lost"] == "0" and x["diff_ci95"] == "+0.000..+0.000"
        for x in rows))
    # --split A,B --pool-splits: one source whose clips lie in two splits.
    two = os.path.join(tmp, "two.tsv")
    with open(two, "w", newline="") as f:
        f.write("split\tpath\tlabel\thead\tprobe\n")
        for i, p in enumerate(P):
            f.write(f"{'val-wide' if i % 2 else 'val'}\t{p['path']}\t{p['label']}\t{p['head']}\t{p['probe']}\n")
    r = run_tool("eval-sources.py", two, man, "--split", "val,val-wide", "--pool-splits")
    rows = list(csv.DictReader(r.stdout.splitlines(), delimiter="\t"))
    check("--pool-splits: the splits reported together, every clip counted once",
          r.returncode == 0 and sorted((x["split"], x["source"], x["clips"]) for x in rows)
          == [("val+val-wide", "synth:c", "8"), ("val+val-wide", "synth:d", "8")])
    r = run_tool("eval-sources.py", two, man, "--pool-splits")
    rows = list(csv.DictReader(r.stdout.splitlines(), delimiter="\t"))
    check("--pool-splits without --split: every split together as \"all\"",
          r.returncode == 0 and sorted((x["split"], x["clips"]) for x in rows) == [("all", "8"), ("all", "8")])
    r = run_tool("eval-sources.py", two, man, "--split", "val-wide")
    rows = list(csv.DictReader(r.stdout.splitlines(), delimiter="\t"))
    check("--split: one split of two", r.returncode == 0 and sum(int(x["clips"]) for x in rows) == len(P) // 2
          and all(x["split"] == "val-wide" for x in rows))
    # --json stays JSON whatever the model's path holds (quote, backslash).
    odd = os.path.join(tmp, 'm "q" \\ x.safetensors')
    with open(MODEL, "rb") as f, open(odd, "wb") as g:
        g.write(f.read())
    r = subprocess.run([ev, "--model", odd, "--data", man, "--test-split", "val", "--baseline", "none",
                        "--json"], capture_output=True, text=True)
    try:
        ok = r.returncode == 0 and json.loads(r.stdout)["model"] == odd
    except ValueError:
        ok = False
    check("--json: a model path with a quote and a backslash is escaped", ok)
    # Refusals.
    r = run_tool("eval-sources.py", man, man)
    check("refused: a file that is not --predictions output", r.returncode != 0 and "not clar-eval" in r.stderr)
    r = run_tool("eval-sources.py", pred, os.path.join(tmp, "missing.tsv"))
    check("refused: a missing manifest", r.returncode != 0 and "missing.tsv" in r.stderr)
    r = subprocess.run([ev, "--model", MODEL, "--data", man, "--test-split", "val", "--baseline", "none",
                        "--predictions", os.path.join(tmp, "no", "such", "dir.tsv")], capture_output=True, text=True)
    check("clar-eval: an unwritable --predictions path is an error", r.returncode == 1 and "cannot write" in r.stderr)
check.exit()
