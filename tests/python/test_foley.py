#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The data builder's procedural effects (tools/data/foley.py, the `foley`
set of build_data.py): every generator gives finite, audible, peak-normalised
mono audio of 1.5-4.5 s, the same for the same seed and different for
another; each class has the acoustic trait its model is built on (thunder
and engines low, birds and insects high, impacts impulsive, wind and rain
steady), measured on several seeds so that one draw cannot pass by luck;
and foley_set writes 16-bit 16 kHz WAV files and manifest rows that a
rebuild reproduces byte for byte. Skips (77) without numpy."""
import hashlib
import os
import sys
import tempfile
import wave

from clar_testutil import ROOT, Checks, imports_or_skip

with imports_or_skip():
    import numpy as np

sys.path.insert(0, os.path.join(ROOT, "tools", "data"))
import foley  # noqa: E402
import build_data  # noqa: E402

check = Checks()
SEEDS = range(6)
RATE = foley.RATE


def centroid(y):
    p = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1.0 / RATE)
    return float((f * p).sum() / p.sum())


def high_fraction(y, hz):
    p = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1.0 / RATE)
    return float(p[f >= hz].sum() / p.sum())


def envelope_crest(y):
    """Peak over median of the 10 ms RMS envelope: high for separate
    impacts, near 1-3 for a steady sound."""
    m = len(y) // 160
    e = np.sqrt((y[:m * 160].reshape(m, 160) ** 2).mean(1))
    return float(e.max() / max(np.median(e), 1e-9))


known = {l.split("\t")[0] for l in open(os.path.join(ROOT, "tools", "data", "tables",
                                                      "realsounds-train.tsv"))} - {"class"}
check("every generator's class is an effect class of realsounds-train.tsv",
      set(foley.GENERATORS) <= known)

clips = {c: [foley.generate(c, s) for s in SEEDS] for c in sorted(foley.GENERATORS)}
for c, ys in clips.items():
    ok = all(np.all(np.isfinite(y)) for y in ys)
    check(f"{c}: finite samples", ok)
    check(f"{c}: 1.5-4.5 s", all(1.5 * RATE <= len(y) <= 4.5 * RATE for y in ys))
    peaks = [float(np.max(np.abs(y))) for y in ys]
    check(f"{c}: peak between -12 and -1 dBFS", all(10 ** (-12.01 / 20) <= p <= 10 ** (-0.99 / 20) for p in peaks))
    check(f"{c}: audible (RMS above -50 dBFS)", all(np.sqrt(np.mean(y ** 2)) > 10 ** (-50 / 20) for y in ys))
    check(f"{c}: the same seed gives the same samples", np.array_equal(ys[0], foley.generate(c, SEEDS[0])))
    check(f"{c}: another seed gives other samples",
          len(ys[0]) != len(ys[1]) or not np.allclose(ys[0], ys[1]))

med = {c: float(np.median([centroid(y) for y in ys])) for c, ys in clips.items()}
crest = {c: float(np.median([envelope_crest(y) for y in ys])) for c, ys in clips.items()}
print("median spectral centroid (Hz):", {c: round(v) for c, v in med.items()})
print("median envelope crest:", {c: round(v, 1) for c, v in crest.items()})
check("thunder is low: median centroid below 1 kHz", med["thunder"] < 1000)
check("engines are low: median centroid below 1.5 kHz", med["engine"] < 1500)
check("birds are high: most energy above 1.5 kHz in every clip",
      all(high_fraction(y, 1500) > 0.6 for y in clips["wild_birds"]))
check("thunder lies below rain and birds", med["thunder"] < med["rain"] and med["thunder"] < med["wild_birds"])
for c in ("hammering", "wood_chop", "footsteps"):
    check(f"{c} is impulsive (envelope crest above 8)", crest[c] > 8)
for c in ("wind", "rain", "water_flow", "fire"):
    check(f"{c} is steady (envelope crest below 8)", crest[c] < 8)
for c in ("hammering", "wood_chop"):
    check(f"{c} is more impulsive than wind", crest[c] > 3 * crest["wind"])

with tempfile.TemporaryDirectory() as out:
    rows, stats = [], {}
    build_data.foley_set(out, rows, True, stats)
    n = len(foley.GENERATORS)
    check("quick build: 5 clips of each class", len(rows) == 5 * n and not stats.get("foley_failed"))
    check("rows: path, label, split, source, group, caption",
          all(len(r) == 6 and r[0].startswith(f"foley/{r[1]}/") and r[3] == "foley:procedural" for r in rows))
    check("clip 4 of 5 is val-src, the rest train",
          {r[2] for r in rows if r[0].endswith("_004.wav")} <= {"val-src"}
          and {r[2] for r in rows if not r[0].endswith("_004.wav")} == {"train"})
    check("groups are unique", len({r[4] for r in rows}) == len(rows))
    fmt = set()
    for r in rows:
        with wave.open(os.path.join(out, r[0])) as w:
            fmt.add((w.getnchannels(), w.getsampwidth(), w.getframerate()))
    check("files are mono 16-bit 16 kHz WAV", fmt == {(1, 2, RATE)})
    first = {r[0]: hashlib.md5(open(os.path.join(out, r[0]), "rb").read()).hexdigest() for r in rows}
    for r in rows:
        os.remove(os.path.join(out, r[0]))
    rows2 = []
    build_data.foley_set(out, rows2, True, {})
    again = {r[0]: hashlib.md5(open(os.path.join(out, r[0]), "rb").read()).hexdigest() for r in rows2}
    check("a rebuild writes the same rows and the same bytes", rows2 == rows and again == first)

check.exit()
