#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""tools/events/compare.py, the paired bootstrap of two event systems over
scenes: exact F1s on all scenes, a zero difference (and interval) for one
system against itself, an interval that holds the observed difference and
lies below zero when B misses events in most scenes, --classes, and clear
errors for a missing file and bad options."""
import json
import os
import subprocess
import sys
import tempfile

from clar_testutil import ROOT, Checks

sys.path.insert(0, os.path.join(ROOT, "tools", "events"))
import compare  # noqa: E402

check = Checks()
TOOL = os.path.join(ROOT, "tools", "events", "compare.py")
tmp = tempfile.mkdtemp()

# 20 scenes, each with a dog at 1-3 s and a bell at 5-6 s. A finds both
# everywhere; B misses the dog in scenes 0-9 and adds a stray bell in
# scene 19.
ref = [(f"s{i}.wav", 1.0, 3.0, "dog") for i in range(20)] + \
      [(f"s{i}.wav", 5.0, 6.0, "bell") for i in range(20)]
sys_a = list(ref)
sys_b = [e for e in ref if not (e[3] == "dog" and int(e[0][1:-4]) < 10)] + \
        [("s19.wav", 8.0, 9.0, "bell")]

r = compare.compare(ref, sys_a, sys_a, rounds=500)
check("A against itself: difference 0, interval [0, 0], B >= A always",
      r["diff"] == 0 and r["interval"] == [0, 0] and r["p_b_at_least_a"] == 1.0)
r = compare.compare(ref, sys_a, sys_b, rounds=2000, seed=3)
# B: tp 30, fp 1, fn 10 -> F1 60 / 71.
check(f"F1 on all scenes: A 1.0, B 60/71 ({r['f1_b']:.4f})",
      r["f1_a"] == 1.0 and abs(r["f1_b"] - 60 / 71) < 1e-12 and r["files"] == 20)
lo, hi = r["interval"]
check(f"the interval ({lo:+.3f} .. {hi:+.3f}) holds the difference {r['diff']:+.3f} "
      "and lies below 0", lo <= r["diff"] <= hi and hi < 0 and r["p_b_at_least_a"] == 0.0)
r2 = compare.compare(ref, sys_a, sys_b, rounds=2000, seed=3)
check("the same seed: the same interval", r2 == r)

paths = {}
for name, evs in (("ref", ref), ("a", sys_a), ("b", sys_b)):
    paths[name] = os.path.join(tmp, f"{name}.tsv")
    with open(paths[name], "w") as fh:
        fh.write("file\tonset\toffset\tlabel\n")
        for e in evs:
            fh.write(f"{e[0]}\t{e[1]}\t{e[2]}\t{e[3]}\n")


def run(*args):
    return subprocess.run([sys.executable, TOOL, *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


out_json = os.path.join(tmp, "cmp.json")
p = run(paths["ref"], paths["a"], paths["b"], "--rounds", "1000", "--json", out_json)
check("the command exits 0 and prints B - A", p.returncode == 0 and "B - A: -0.155" in p.stdout)
j = json.load(open(out_json))
check("--json: the same figures", abs(j["f1_b"] - 60 / 71) < 1e-12 and j["rounds"] == 1000)
p = run(paths["ref"], paths["a"], paths["b"], "--classes", "bell", "--rounds", "200")
# Bells only: A 20/20; B tp 20, fp 1 -> 40 / 41.
check("--classes bell: B 0.976 on the bells", p.returncode == 0 and "event F1 0.976" in p.stdout)
p = run(paths["ref"], paths["a"], os.path.join(tmp, "missing.tsv"))
check("a missing system file: exit 1, said", p.returncode == 1 and "missing.tsv" in p.stderr)
p = run(paths["ref"], paths["a"], paths["b"], "--rounds", "0")
check("--rounds 0: refused", p.returncode == 2 and "--rounds" in p.stderr)
p = run(paths["ref"], paths["a"], paths["b"], "--classes", "cat")
check("--classes with no reference event: exit 1, said",
      p.returncode == 1 and "no reference events" in p.stderr)
check.exit()
