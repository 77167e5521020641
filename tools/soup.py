#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Interpolates two model files of one architecture: every encoder tensor and
the label vectors become (1 - alpha) * A + alpha * B ("weight-space
ensembling", Wortsman et al. 2022, "Robust fine-tuning of zero-shot models",
WiSE-FT: between a model and its fine-tune, the interpolation often holds
up better on sources neither saw than either end). Meant for B a fine-tune
of A (the same basin); the files' batch norm is already folded into the
convolutions, so this interpolates the folded weights, which matches
folding the interpolated ones only to first order when the two models'
statistics are close. The result keeps A's metadata (front end, window,
labels' names), drops any text tower (train one for the result with
tools/train-text-tower.sh), ties the label vectors to the new encoder,
lists the training clips of both (clar.training_clips_md5, so that
clar-eval refuses to score either model's training clips) and records the
recipe in clar.training.

  tools/soup.py A.safetensors B.safetensors OUT.safetensors [--alpha 0.5]
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python"))
from clar.model import ModelFile  # noqa: E402

# tools/dataset.h CLAR_TRAINING_CLIPS_KEY: sorted 16-hex-digit MD5 prefixes.
CLIPS = "clar.training_clips_md5"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("out")
    ap.add_argument("--alpha", type=float, default=0.5, help="weight of B, in [0, 1] (default 0.5)")
    o = ap.parse_args()
    if not 0.0 <= o.alpha <= 1.0:
        sys.exit(f"soup.py: --alpha {o.alpha} is not in [0, 1]")
    a, b = ModelFile.load(o.a), ModelFile.load(o.b)
    for k in ("clar.architecture", "clar.labels", "clar.embedding_dim", "clar.window_samples"):
        if a.metadata.get(k) != b.metadata.get(k):
            sys.exit(f"soup.py: {k} differs between {o.a} and {o.b}; only models of one "
                     "architecture and label set can be interpolated")
    if a.tensors["frontend.mel_filterbank"].shape != b.tensors["frontend.mel_filterbank"].shape or \
            not np.array_equal(a.tensors["frontend.mel_filterbank"], b.tensors["frontend.mel_filterbank"]):
        sys.exit("soup.py: the two front ends differ")
    a.drop_text()
    for k, t in list(a.tensors.items()):
        if k == "frontend.mel_filterbank":
            continue
        if k not in b.tensors or b.tensors[k].shape != t.shape:
            sys.exit(f"soup.py: tensor {k} is missing or of another shape in {o.b}")
        a.tensors[k] = ((1.0 - o.alpha) * t.astype(np.float64)
                        + o.alpha * b.tensors[k].astype(np.float64)).astype(np.float32)
    if a.labels:
        a.set_labels(*a.labels)   # unit rows again, as labels.h stores them
        a.tie_labels()
    clips = sorted({h for m in (a, b) for h in m.metadata.get(CLIPS, "").split(",") if h})
    if clips:
        a.metadata[CLIPS] = ",".join(clips)
    a.metadata["clar.training"] = (f"tools/soup.py {os.path.basename(o.a)} {os.path.basename(o.b)} "
                                   f"--alpha {o.alpha:g} (A: {a.metadata.get('clar.training', '?')[:300]}; "
                                   f"B: {b.metadata.get('clar.training', '?')[:300]})")
    a.metadata.pop("clar.training_steps", None)
    a.save(o.out)
    print(f"soup.py: wrote {o.out} = {1 - o.alpha:g} x {o.a} + {o.alpha:g} x {o.b}")


if __name__ == "__main__":
    main()
