#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Averages the weights of model files of one architecture: every encoder
tensor and the label vectors become sum_i w_i * M_i. With two files that is
(1 - alpha) * A + alpha * B ("weight-space ensembling", Wortsman et al.
2022, "Robust fine-tuning of zero-shot models", WiSE-FT: between a model and
its fine-tune, the interpolation often holds up better on sources neither
saw than either end); with more, by default the uniform "model soup"
(Wortsman et al. 2022, "Model soups": fine-tunes of one start averaged
with equal weights; across seeds of one recipe the average removes part of
the seed-to-seed spread). Meant for fine-tunes of one start (the same
basin); the files' batch norm is already folded into the convolutions, so
this averages the folded weights, which matches folding the averaged ones
only to first order when the models' statistics are close. The result
keeps the first file's metadata (front end, window, labels' names), drops
any text tower (train one for the result with tools/train-text-tower.sh),
ties the label vectors to the new encoder, lists the training clips of all
inputs (clar.training_clips_md5, so that clar-eval refuses to score any
input's training clips) and records the recipe in clar.training.

  tools/soup.py A.safetensors B.safetensors OUT.safetensors [--alpha 0.5]
  tools/soup.py M1 M2 M3 ... OUT.safetensors [--weights w1,w2,w3,...]

The weights are non-negative and are divided by their sum; --alpha is for
two inputs only. The inputs must name the same labels; in another order,
their vectors are matched by name (the output has the first file's order).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python"))
from clar.model import ModelFile  # noqa: E402

# tools/dataset.h CLAR_TRAINING_CLIPS_KEY: sorted 16-hex-digit MD5 prefixes.
CLIPS = "clar.training_clips_md5"


def parse_weights(o, n):
    """The normalised weights, or an error message."""
    if o.alpha is not None and o.weights is not None:
        return None, "give --alpha or --weights, not both"
    if o.alpha is not None:
        if n != 2:
            return None, f"--alpha is for two inputs ({n} given); use --weights"
        if not 0.0 <= o.alpha <= 1.0:
            return None, f"--alpha {o.alpha} is not in [0, 1]"
        return [1.0 - o.alpha, o.alpha], None
    if o.weights is None:
        return [1.0 / n] * n, None
    try:
        w = [float(x) for x in o.weights.split(",")]
    except ValueError:
        return None, f"--weights {o.weights!r} is not a comma-separated list of numbers"
    if len(w) != n:
        return None, f"--weights has {len(w)} numbers for {n} inputs"
    if any(not np.isfinite(x) or x < 0 for x in w) or sum(w) <= 0:
        return None, f"--weights {o.weights!r}: each must be finite and >= 0, and their sum > 0"
    return [x / sum(w) for x in w], None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", metavar="FILE", help="two or more input models, then the output")
    ap.add_argument("--alpha", type=float, default=None, help="two inputs: weight of B, in [0, 1] (default 0.5)")
    ap.add_argument("--weights", default=None, help="one weight per input, comma-separated (default: equal)")
    o = ap.parse_args()
    if len(o.files) < 3:
        sys.exit("soup.py: give at least two input models and the output file")
    ins, out = o.files[:-1], o.files[-1]
    if out in ins:
        sys.exit(f"soup.py: the output {out} is also an input")
    w, err = parse_weights(o, len(ins))
    if err:
        sys.exit(f"soup.py: {err}")
    models = [ModelFile.load(p) for p in ins]
    a = models[0]
    for p, m in zip(ins[1:], models[1:]):
        if a.labels and m.labels and a.labels[0] != m.labels[0] and sorted(a.labels[0]) == sorted(m.labels[0]):
            # The same labels in another order (tools/set-labels.py --add
            # appends, clar-train sorts): rows are matched by name.
            names, rows, scale = m.labels
            order = [list(names).index(n) for n in a.labels[0]]
            m.set_labels(a.labels[0], np.asarray(rows)[order], scale)
        for k in ("clar.architecture", "clar.labels", "clar.embedding_dim", "clar.window_samples"):
            if a.metadata.get(k) != m.metadata.get(k):
                sys.exit(f"soup.py: {k} differs between {ins[0]} and {p}; only models of one "
                         "architecture and label set can be averaged")
        fa, fm = a.tensors["frontend.mel_filterbank"], m.tensors["frontend.mel_filterbank"]
        if fa.shape != fm.shape or not np.array_equal(fa, fm):
            sys.exit(f"soup.py: the front ends of {ins[0]} and {p} differ")
    a.drop_text()
    for k, t in list(a.tensors.items()):
        if k == "frontend.mel_filterbank":
            continue
        acc = w[0] * t.astype(np.float64)
        for p, m, wi in zip(ins[1:], models[1:], w[1:]):
            if k not in m.tensors or m.tensors[k].shape != t.shape:
                sys.exit(f"soup.py: tensor {k} is missing or of another shape in {p}")
            acc += wi * m.tensors[k].astype(np.float64)
        a.tensors[k] = acc.astype(np.float32)
    if a.labels:
        a.set_labels(*a.labels)   # unit rows again, as labels.h stores them
        a.tie_labels()
    clips = sorted({h for m in models for h in m.metadata.get(CLIPS, "").split(",") if h})
    if clips:
        a.metadata[CLIPS] = ",".join(clips)
    ws = ",".join(f"{x:g}" for x in w)
    parts = "; ".join(f"{os.path.basename(p)}: {m.metadata.get('clar.training', '?')[:300]}"
                      for p, m in zip(ins, models))
    a.metadata["clar.training"] = (f"tools/soup.py {' '.join(os.path.basename(p) for p in ins)} "
                                   f"--weights {ws} ({parts})")
    a.metadata.pop("clar.training_steps", None)
    a.save(out)
    print(f"soup.py: wrote {out} = " + " + ".join(f"{x:g} x {p}" for x, p in zip(w, ins)))


if __name__ == "__main__":
    main()
