#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Where a clip's windows lie: the model's head on clip embeddings pooled
from other window placements than the clip tools' (models/README.md,
"Tried and not shipped (2026-12-06, night): where a clip's windows lie").

  tools/window-study.py MODEL MANIFEST [--split val,val-wide] [--max N]
      [--build _build] [--json] [--predictions FILE]

The clip tools (clip-embed.h) embed a clip as the normalised mean of its
windows every half window, a final partial window zero-padded at its end
(a clip shorter than a window is that one window). This tool cuts each
clip of the manifest's splits into windows under several placements,
embeds every distinct window once with clar-embed --clip (one window per
file), pools them per clip and scores the model's head (argmax of the
cosine to its unit label rows) per split and domain (build_data.domain_of;
"other" for labels outside the three domains):

  current       the clip tools' windows (reproduces clar-eval's head)
  short-end     a clip shorter than a window at the window's end (zeros first)
  short-centre  ... at its centre
  short-mean    the mean of the start, centre and end placements
  tail-none     a longer clip without its partial last window
  tail-last     a longer clip's partial last window replaced by its last
                full window (the clip's final window length of samples)

Clips are read as 16-bit PCM WAV (what tools/data/build_data.py writes);
windows are cut at the file's own rate and written beside each other in a
temporary folder. Clips shorter than a tenth of a window are left out, as
the clip tools leave them out. --predictions writes one row per scored
clip: split, path (joined to the manifest's folder, as clar-eval reports
it), label and each placement's top label.
"""
import argparse
import collections
import csv
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import wave

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "data"))
sys.path.insert(0, os.path.join(ROOT, "python"))
from build_data import domain_of  # noqa: E402
from clar.model import ModelFile, ModelFileError  # noqa: E402
from clar import safetensors  # noqa: E402
from clar.data import read_manifest  # noqa: E402

SCHEMES = ("current", "short-end", "short-centre", "short-mean", "tail-none", "tail-last")
MIN_FILL = 0.1   # clip-embed.h's default: the trainer's shortest clip


def read_model(path):
    """(label names, unit label rows, window seconds) of a model file."""
    try:
        m = ModelFile.load(path)
        win = m.window_samples / m.mel.sample_rate
    except (OSError, ModelFileError, safetensors.SafetensorsError) as e:
        sys.exit(f"window-study.py: {e}")
    if not m.labels:
        sys.exit(f"window-study.py: {path} has no label head")
    names, rows, _ = m.labels
    rows = np.asarray(rows, dtype=np.float64)
    return list(names), rows / np.linalg.norm(rows, axis=1, keepdims=True), win


def read_wav(path):
    try:
        with wave.open(path) as w:
            if w.getsampwidth() != 2 or w.getcomptype() != "NONE":
                sys.exit(f"window-study.py: {path}: not a 16-bit PCM WAV (convert it with sox)")
            data, ch, rate = w.readframes(w.getnframes()), w.getnchannels(), w.getframerate()
    except (OSError, EOFError, wave.Error) as e:
        sys.exit(f"window-study.py: {path}: {e}")
    if len(data) % (2 * ch):
        sys.exit(f"window-study.py: {path}: truncated sample data")
    return np.frombuffer(data, np.int16).reshape(-1, ch), rate


def placements(x, W):
    """{scheme: [window arrays]} of one clip (W samples a window)."""
    n, H = len(x), W // 2

    def put(seg, at):
        c = np.zeros((W, x.shape[1]), x.dtype)
        c[at:at + len(seg)] = seg
        return c
    if n < W:
        if n < MIN_FILL * W:
            return {}
        s, c, e = put(x, 0), put(x, (W - n) // 2), put(x, W - n)
        return {"current": [s], "short-end": [e], "short-centre": [c], "short-mean": [s, c, e],
                "tail-none": [s], "tail-last": [s]}
    full, pos = [], 0
    while pos + W <= n:
        full.append(x[pos:pos + W])
        pos += H
    # pos is now the start of the window the stream flushes: it holds
    # n - pos samples, at least half a window when the clip is longer.
    tail = {"current": [put(x[pos:], 0)] if pos < n else [],
            "tail-none": [], "tail-last": [x[n - W:]] if pos < n else []}
    return {s: full + tail.get(s, tail["current"]) for s in SCHEMES}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("manifest")
    ap.add_argument("--split", default="val,val-wide")
    ap.add_argument("--max", type=int, default=0, help="at most N clips (a fixed random sample)")
    ap.add_argument("--build", default="_build")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--predictions", metavar="FILE", help="per-clip top labels (TSV)")
    o = ap.parse_args()
    embed = os.path.join(o.build, "tools", "clar-embed")
    if not os.access(embed, os.X_OK):
        sys.exit(f"window-study.py: no clar-embed in {o.build}/tools")
    names, L, win_s = read_model(o.model)
    # The manifest as clar-eval reads it (python/clar/data.py): paths
    # against the manifest's folder.
    splits = o.split.split(",")
    try:
        every = read_manifest(o.manifest, split=None)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        sys.exit(f"window-study.py: {o.manifest}: {e}")
    rows = [c for sp in splits for c in every if c.split == sp]   # split by split, as --max samples them
    if not rows:
        sys.exit(f"window-study.py: {o.manifest}: no clips in split {o.split}")
    if o.max and len(rows) > o.max:
        rows = [rows[i] for i in sorted(np.random.default_rng(1).choice(len(rows), o.max, replace=False))]
    with tempfile.TemporaryDirectory() as tmp:
        clips = []
        for r in rows:
            x, sr = read_wav(r.path)
            keys = {}
            for s, ws in placements(x, int(round(win_s * sr))).items():
                keys[s] = []
                for w in ws:
                    k = hashlib.md5(w.tobytes() + struct.pack("<I", sr)).hexdigest()
                    p = os.path.join(tmp, k + ".wav")
                    if not os.path.exists(p):
                        with wave.open(p, "wb") as out:
                            out.setnchannels(w.shape[1])
                            out.setsampwidth(2)
                            out.setframerate(sr)
                            out.writeframes(w.tobytes())
                    keys[s].append(k)
            if keys:
                clips.append((r, keys))
        # Each file is exactly one window: a fill above a half keeps its
        # stream from flushing a second, partial one.
        res = subprocess.run([embed, "--model", o.model, "--clip", "--min-fill", "0.6", "--top-k", "1",
                              "--embeddings", tmp], capture_output=True, text=True)
        if res.returncode != 0:
            sys.exit(f"window-study.py: clar-embed failed: {res.stderr.strip()}")
        E = {}
        for line in res.stdout.splitlines():
            j = json.loads(line)
            E[os.path.basename(j["file"])[:-4]] = np.asarray(j["embedding"], np.float32)
    acc = collections.defaultdict(lambda: {s: [0, 0] for s in SCHEMES})
    pred_rows = []
    for r, keys in clips:
        if r.label not in names:
            continue
        y = names.index(r.label)
        a = acc[(r.split, domain_of(r.label) or "other")]
        tops = []
        for s in SCHEMES:
            e = np.sum([E[k] for k in keys[s]], axis=0)
            e /= np.linalg.norm(e)
            top = int(np.argmax(L @ e))
            a[s][0] += 1
            a[s][1] += top == y
            tops.append(names[top])
        pred_rows.append([r.split, r.path, r.label] + tops)
    if o.predictions:
        with open(o.predictions, "w", newline="") as f:
            w = csv.writer(f, delimiter="\t", lineterminator="\n")
            w.writerow(["split", "path", "label", *SCHEMES])
            w.writerows(pred_rows)
    if o.json:
        print(json.dumps({f"{sp}/{d}": {s: {"clips": v[0], "right": v[1]} for s, v in a.items()}
                          for (sp, d), a in sorted(acc.items())}, indent=1))
        return
    print("split/domain".ljust(22) + "".join(s.rjust(14) for s in SCHEMES))
    for (sp, d), a in sorted(acc.items()):
        print(f"{sp}/{d}".ljust(22) + "".join(f"{a[s][1]}/{a[s][0]}".rjust(14) for s in SCHEMES))


if __name__ == "__main__":
    main()
