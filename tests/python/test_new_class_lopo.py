#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""tools/new-class-lopo.py: the leave-one-source-out check of rows for a
class the shipped model lacks. A "kazoo" (square waves) from three sources
and the model's own "noise" class are written as a manifest; the tool's
row built from every source must be clar-enroll's prototype of the same
clips (its clip embeddings are clip-embed.h's, through clar-embed), each
held-out source is scored with the row from the other two (a square wave
of an unheard source is still named kazoo), the other class's clips it
takes are counted, and bad requests are refused with why."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clar_testutil import BUILD, DEFAULT_MODEL as MODEL, Checks, imports_or_skip, run_tool, write_wav  # noqa: E402

with imports_or_skip(pyclar=True):
    import numpy as np
    from clar import safetensors

check = Checks()
enroll = os.path.join(BUILD, "tools", "clar-enroll") if BUILD else None
if not enroll or not os.access(enroll, os.X_OK):
    print("skipping: no clar-enroll / clar-embed in the build tree")
    sys.exit(77)


def lopo(*args):
    return run_tool("new-class-lopo.py", *args, "--build", BUILD)


with tempfile.TemporaryDirectory() as tmp:
    rng = np.random.default_rng(11)
    t = np.arange(20000) / 16000.0          # 1.25 s: two windows and a partial one
    rows = ["path\tlabel\tsplit\tsource\tgroup\tcaption"]
    for src, f0 in (("a", 300), ("b", 420), ("c", 560)):
        for i in range(3):
            p = f"k/{src}{i}.wav"
            os.makedirs(os.path.join(tmp, "k"), exist_ok=True)
            write_wav(os.path.join(tmp, p), 0.3 * np.sign(np.sin(2 * np.pi * (f0 + 15 * i) * t)))
            rows.append(f"{p}\tkazoo\ttrain\tsynth:{src}\t{src}\ta kazoo")
    for i in range(4):
        p = f"n/{i}.wav"
        os.makedirs(os.path.join(tmp, "n"), exist_ok=True)
        write_wav(os.path.join(tmp, p), 0.2 * rng.standard_normal(t.size))
        rows.append(f"{p}\tnoise\ttrain\tnoise:{i}\tn\tnoise")
    rows.append("k/a0.wav\tkazoo\tval\tsynth:a\ta\ta val clip (left out: another split)")
    man = os.path.join(tmp, "manifest.tsv")
    with open(man, "w") as f:
        f.write("\n".join(rows) + "\n")
    r = lopo(MODEL, man, "--classes", "kazoo", "--json")
    check.ran("the tool runs", r)
    rep = json.loads(r.stdout)
    k = rep["classes"]["kazoo"]
    check("each of the three sources is held out once, with its 3 clips",
          sorted(k["sources"]) == ["synth:a", "synth:b", "synth:c"]
          and all(v[1] == 3 for v in k["sources"].values()) and k["clips"] == 9)
    check(f"a square wave of an unheard source is named kazoo ({k['hits']} of 9)", k["hits"] >= 7)
    check("the recall is the sum over sources", k["hits"] == sum(v[0] for v in k["sources"].values()))
    check("the model's noise clips are counted, none taken", rep["others"] == {"clips": 4, "taken": 0, "by_class": {}})
    # The row from every source is clar-enroll's prototype of the same clips.
    lab = os.path.join(tmp, "proto.safetensors")
    e = subprocess.run([enroll, "--model", MODEL, "--data", man, "--split", "train", "--classes", "kazoo",
                        "--min-fill", "0.1", "--out", lab], capture_output=True, text=True)
    check("clar-enroll writes the prototype", e.returncode == 0)
    if e.returncode == 0:
        pv = np.asarray(safetensors.load(lab)[0]["labels.embeddings"][0], dtype=np.float64)
        pv /= np.linalg.norm(pv)
        got = np.asarray(rep["rows"]["kazoo"])
        check(f"the row is clar-enroll's prototype (cosine {got @ pv:.7f})", abs(got @ pv - 1) < 1e-5)
    # A single source: nothing to build its row from, so it is not scored.
    one = os.path.join(tmp, "one.tsv")
    with open(one, "w") as f:
        f.write("\n".join([rows[0]] + [x for x in rows[1:] if "synth:a" in x or "noise" in x]) + "\n")
    r = lopo(MODEL, one, "--classes", "kazoo", "--json")
    check("a class from one source: run, that source not scored",
          r.returncode == 0 and json.loads(r.stdout)["classes"]["kazoo"]["sources"] == {"synth:a": None})
    # Refusals.
    for why, args in (("a class the model names", ("--classes", "noise")),
                      ("a class with no clip", ("--classes", "oboe_x")),
                      ("--min-fill 0", ("--classes", "kazoo", "--min-fill", "0"))):
        r = lopo(MODEL, man, *args)
        check(f"refused: {why}", r.returncode != 0 and "new-class-lopo.py:" in r.stderr)
    r = lopo(MODEL, os.path.join(tmp, "missing.tsv"), "--classes", "kazoo")
    check("refused: a missing manifest", r.returncode != 0 and "missing.tsv" in r.stderr)
check.exit()
