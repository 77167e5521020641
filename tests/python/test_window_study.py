#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""tools/window-study.py: the head under other window placements. On a
manifest of tones and noise, long and short (0.3 s, 0.05 s), its
"current" placement must give clar-eval's head clip for clip (the same
windows cut in Python, embedded one by one, pooled here), the placements
must differ only where they can (a short clip's position, a longer clip's
last window), the 0.05 s clip must be left out as clar-eval leaves it out,
and a file that is not 16-bit PCM WAV is refused with why."""
import csv
import json
import os
import subprocess
import sys
import tempfile
import wave

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clar_testutil import BUILD, DEFAULT_MODEL as MODEL, Checks, imports_or_skip, run_tool, write_wav  # noqa: E402

with imports_or_skip():
    import numpy as np

check = Checks()
ev = os.path.join(BUILD, "tools", "clar-eval") if BUILD else None
if not ev or not os.access(ev, os.X_OK) or not os.path.exists(MODEL):
    print("skipping: no clar-eval in the build tree or no shipped model")
    sys.exit(77)

with tempfile.TemporaryDirectory() as tmp:
    rng = np.random.default_rng(3)
    rows = ["path\tlabel\tsplit\tsource"]
    n_val = 0
    for split in ("train", "val"):
        os.makedirs(os.path.join(tmp, split), exist_ok=True)
        for i in range(4):
            # 1.3 s (two windows and a partial one), 0.3 s (one padded window)
            for dur in (1.3, 0.3):
                t = np.arange(int(dur * 16000)) / 16000.0
                for label in ("flute", "noise"):
                    p = f"{split}/{label}{i}-{dur}.wav"
                    x = (0.3 * np.sin(2 * np.pi * (500 + 110 * i + 37 * (split == "val")) * t) if label == "flute"
                         else (0.05 + 0.04 * i) * rng.standard_normal(t.size))
                    write_wav(os.path.join(tmp, p), x)
                    rows.append(f"{p}\t{label}\t{split}\tsynth")
                    n_val += split == "val"
    write_wav(os.path.join(tmp, "val", "tiny.wav"), 0.3 * rng.standard_normal(800))
    rows.append("val/tiny.wav\tnoise\tval\tsynth")
    man = os.path.join(tmp, "manifest.tsv")
    with open(man, "w") as f:
        f.write("\n".join(rows) + "\n")
    pred = os.path.join(tmp, "pred.tsv")
    r = subprocess.run([ev, "--model", MODEL, "--data", man, "--test-split", "val", "--baseline", "none",
                        "--max-dropped", "0.5", "--predictions", pred], capture_output=True, text=True)
    check.ran("clar-eval runs", r)
    with open(pred, newline="") as f:
        P = list(csv.DictReader(f, delimiter="\t"))
    check(f"clar-eval scores the {n_val} val clips, not the 0.05 s one", len(P) == n_val)
    right = sum(p["head"] == p["label"] for p in P)

    wpred = os.path.join(tmp, "wpred.tsv")
    r = run_tool("window-study.py", MODEL, man, "--split", "val", "--build", BUILD, "--json",
                 "--predictions", wpred)
    check.ran("window-study.py runs", r)
    rep = json.loads(r.stdout)
    with open(wpred, newline="") as f:
        W = {x["path"]: x["current"] for x in csv.DictReader(f, delimiter="\t")}
    check("current: clar-eval's head, clip for clip",
          len(W) == len(P) and all(W.get(p["path"]) == p["head"] for p in P))
    cur = [v["current"] for v in rep.values()]
    check(f"current: clar-eval's clips and head ({sum(c['right'] for c in cur)} right of "
          f"{sum(c['clips'] for c in cur)}; clar-eval {right} of {len(P)})",
          sum(c["clips"] for c in cur) == n_val and sum(c["right"] for c in cur) == right)
    check("every placement scores the same clips",
          all(len({s["clips"] for s in v.values()}) == 1 for v in rep.values()))

    # Only short clips: the tail schemes are the current one; only long
    # clips: the short schemes are.
    for kind, keep in (("short", "-0.3.wav"), ("long", "-1.3.wav")):
        sub = os.path.join(tmp, f"{kind}.tsv")
        with open(sub, "w") as f:
            f.write("\n".join([rows[0]] + [x for x in rows[1:] if x.split("\t")[0].endswith(keep)]) + "\n")
        r = run_tool("window-study.py", MODEL, sub, "--split", "val", "--build", BUILD, "--json")
        rep = json.loads(r.stdout) if r.returncode == 0 else {}
        same = ("tail-none", "tail-last") if kind == "short" else ("short-end", "short-centre", "short-mean")
        check(f"{kind} clips only: {', '.join(same)} equal current",
              rep and all(v[s] == v["current"] for v in rep.values() for s in same))

    # A split the manifest lacks: said, not an empty table.
    r = run_tool("window-study.py", MODEL, man, "--split", "test", "--build", BUILD)
    check("a split with no clips is refused with why", r.returncode != 0 and "no clips in split test" in r.stderr)
    # A float WAV is refused, naming the file.
    with wave.open(os.path.join(tmp, "val", "f32.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(4)
        w.setframerate(16000)
        w.writeframes(np.zeros(16000, "<i4").tobytes())
    bad = os.path.join(tmp, "bad.tsv")
    with open(bad, "w") as f:
        f.write(rows[0] + "\nval/f32.wav\tnoise\tval\tsynth\n")
    r = run_tool("window-study.py", MODEL, bad, "--split", "val", "--build", BUILD)
    check("a 32-bit WAV is refused: not a 16-bit PCM WAV, with the file",
          r.returncode != 0 and "f32.wav: not a 16-bit PCM WAV" in r.stderr)
    # A missing file and one that is not a WAV: the file and why, no traceback.
    with open(os.path.join(tmp, "val", "junk.wav"), "wb") as f:
        f.write(b"not audio at all")
    for name in ("missing.wav", "junk.wav"):
        with open(bad, "w") as f:
            f.write(rows[0] + f"\nval/{name}\tnoise\tval\tsynth\n")
        r = run_tool("window-study.py", MODEL, bad, "--split", "val", "--build", BUILD)
        check(f"{name}: refused with the file named, no traceback",
              r.returncode != 0 and f"{name}:" in r.stderr and "Traceback" not in r.stderr)
check.exit()
