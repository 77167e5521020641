#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Gives a model other vectors for its own labels, keeping its encoder,
front end and text tower: each label of MODEL that SOURCE names takes
SOURCE's vector, the others keep theirs. SOURCE is

  - a label file made with MODEL's encoder, e.g. clar-enroll's class
    prototypes (the mean clip embedding of each label's examples: with
    every training clip, a nearest-class-mean head), or
  - a model file with the same encoder, e.g. a refit of MODEL's heads
    alone (clar-train --init MODEL --freeze-encoder S --steps S), whose
    exported encoder equals MODEL's up to the rounding of refolding its
    batch-norms (relative difference below 1e-5 per tensor is accepted).

  tools/set-labels.py MODEL.safetensors SOURCE.safetensors OUT.safetensors [--scale S] [--add]
      [--labels A,B]   (only those of SOURCE's labels; MODEL's other rows stay bit for bit)
      [--blend]        (each such row becomes the normalised sum of MODEL's unit row and
                        SOURCE's unit vector: the direction halfway between them)

The scale (softmax temperature, labels.h) stays MODEL's unless --scale
says. SOURCE's labels must all be MODEL's, unless --add: then those
MODEL lacks are appended after MODEL's, in SOURCE's order, e.g. classes
enrolled with `clar-enroll --classes A,B` from clips of classes the
model was never trained on (a cosine head compares each vector's
direction only, so a prototype sits beside trained rows; the rows
already there stay bit for bit unless SOURCE names them too). A model
SOURCE's training clips are added to OUT's clar.training_clips_md5, and
so are those of a label file clar-enroll wrote (the clips its prototypes
came from), so that clar-eval refuses to score them; a label file
written otherwise may list none.
MODEL's event thresholds (tools/events/calibrate.sh) were fitted to its
old vectors: calibrate OUT again before using its events.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python"))
from clar import safetensors  # noqa: E402
from clar.model import ModelFile, ModelFileError  # noqa: E402

CLIPS = "clar.training_clips_md5"   # tools/dataset.h CLAR_TRAINING_CLIPS_KEY
REFOLD_TOLERANCE = 1e-5


def load_source(path, model):
    """(names, vectors, what, clips) of SOURCE, or exits saying why."""
    tensors, meta = safetensors.load(path)
    fmt = meta.get("clar.format")
    if fmt == "clar-model":
        src = ModelFile(meta, tensors)
        if src.metadata.get("clar.architecture") != model.metadata.get("clar.architecture"):
            sys.exit(f"set-labels.py: {path} has another architecture than the model")
        a, b = model.encoder_tensors(), src.encoder_tensors()
        if sorted(a) != sorted(b) or any(a[k].shape != b[k].shape for k in a):
            sys.exit(f"set-labels.py: {path} has other encoder tensors than the model")
        worst = max(float(np.max(np.abs(a[k] - b[k]))) / (float(np.max(np.abs(a[k]))) or 1.0)
                    for k in a)
        if not worst < REFOLD_TOLERANCE:
            sys.exit(f"set-labels.py: the encoder of {path} differs from the model's (relative "
                     f"difference {worst:.3g}): its label vectors score other features")
        if not src.labels:
            sys.exit(f"set-labels.py: {path} has no labels")
        names, vec, _ = src.labels
        clips = [h for h in src.metadata.get(CLIPS, "").split(",") if h]
        what = f"the labels of {os.path.basename(path)} ({src.metadata.get('clar.training', '?')[:300]})"
        return names, np.asarray(vec, dtype=np.float64), what, clips
    if fmt == "clar-labels":
        fp = meta.get("clar.labels.encoder_fingerprint")
        if fp != model.fingerprint():
            sys.exit(f"set-labels.py: {path} was made with encoder {fp or 'unknown'}, "
                     f"the model's is {model.fingerprint()}")
        try:
            names = json.loads(meta["clar.labels"])
            vec = np.asarray(tensors["labels.embeddings"], dtype=np.float64)
        except (KeyError, ValueError, TypeError) as e:
            sys.exit(f"set-labels.py: {path}: malformed label file ({e})")
        if vec.shape != (len(names), model.embedding_dim):
            sys.exit(f"set-labels.py: {path}: {vec.shape} vectors for {len(names)} labels of "
                     f"dimension {model.embedding_dim}")
        # clar-enroll records the clips its prototypes came from and its
        # command line; older label files record neither.
        clips = [h for h in meta.get(CLIPS, "").split(",") if h]
        how = meta.get("clar.training")
        what = f"the label file {os.path.basename(path)}" + (f" ({how[:300]})" if how else "")
        return names, vec, what, clips
    sys.exit(f"set-labels.py: {path} is neither a model nor a label file (clar.format {fmt!r})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("source")
    ap.add_argument("out")
    ap.add_argument("--scale", type=float, default=None, help="softmax scale (default: the model's)")
    ap.add_argument("--labels", help="take only these of SOURCE's labels (comma-separated); "
                    "the model's other rows stay bit for bit")
    ap.add_argument("--add", action="store_true",
                    help="append SOURCE's labels that MODEL lacks instead of refusing them")
    ap.add_argument("--blend", action="store_true",
                    help="each replaced row becomes normalise(unit MODEL row + unit SOURCE vector), "
                    "e.g. trained rows drawn halfway toward class prototypes")
    o = ap.parse_args()
    if os.path.abspath(o.out) in (os.path.abspath(o.model), os.path.abspath(o.source)):
        sys.exit(f"set-labels.py: the output {o.out} is also an input")
    if o.scale is not None and not (0 < o.scale <= 1000):
        sys.exit(f"set-labels.py: --scale {o.scale} is not in (0, 1000]")
    try:
        model = ModelFile.load(o.model)
        if not model.labels:
            sys.exit(f"set-labels.py: {o.model} has no labels of its own to replace")
        names, vec, what, clips = load_source(o.source, model)
    except (OSError, ModelFileError, safetensors.SafetensorsError) as e:
        sys.exit(f"set-labels.py: {e}")
    own, old, scale = model.labels
    if o.labels is not None:
        pick = [x for x in o.labels.split(",") if x]
        missing = [x for x in pick if x not in names]
        if not pick or missing:
            sys.exit(f"set-labels.py: --labels names labels {o.source} lacks "
                     f"({', '.join(missing[:5]) or 'none given'})")
        keep = [names.index(x) for x in pick]
        names, vec = [names[k] for k in keep], vec[keep]
    if len(set(names)) != len(names):
        sys.exit(f"set-labels.py: {o.source} names a label twice")
    extra = [n for n in names if n not in own]
    if extra and o.blend:
        sys.exit(f"set-labels.py: --blend needs a row of MODEL's for each label; it lacks "
                 f"{', '.join(extra[:5])}")
    if extra and not o.add:
        sys.exit(f"set-labels.py: {o.source} names labels the model lacks ({', '.join(extra[:5])}); "
                 "--add appends them")
    if not np.all(np.isfinite(vec)) or np.any(np.linalg.norm(vec, axis=1) == 0):
        sys.exit(f"set-labels.py: {o.source} holds a vector that is zero or not finite")
    fingerprint = model.fingerprint()
    own = list(own) + extra
    rows = np.concatenate([np.asarray(old, dtype=np.float64),
                           np.zeros((len(extra), vec.shape[1]))])
    for n, v in zip(names, vec):
        if o.blend:
            # The bisector of the two directions (a cosine head reads only
            # the direction): slerp at one half, as far from each as from
            # the other.
            w = rows[own.index(n)]
            if not np.all(np.isfinite(w)) or not np.linalg.norm(w):
                sys.exit(f"set-labels.py: the model's row of {n} is zero or not finite")
            v = w / np.linalg.norm(w) + v / np.linalg.norm(v)
            if not np.linalg.norm(v) > 1e-6:
                sys.exit(f"set-labels.py: --blend: the model's row of {n} and SOURCE's point "
                         "opposite ways")
            v = v / np.linalg.norm(v)
        rows[own.index(n)] = v
    model.set_labels(own, rows, o.scale if o.scale is not None else scale)
    model.tie_labels()
    if model.fingerprint() != fingerprint:   # the encoder is not touched
        sys.exit("set-labels.py: internal error: the encoder changed")
    if clips:
        model.metadata[CLIPS] = ",".join(sorted(set(clips) | {h for h in model.metadata.get(CLIPS, "").split(",") if h}))
    model.metadata["clar.training"] = (model.metadata.get("clar.training", "?")
                                       + f"; then tools/set-labels.py: {len(names)} of "
                                       f"{len(own)} label vectors "
                                       + ("blended halfway (normalised sum of unit vectors) with "
                                          if o.blend else "from ") + what
                                       + (f" ({', '.join(extra)} added)" if extra else ""))
    model.save(o.out)
    print(f"set-labels.py: wrote {o.out}: {len(names)} of {len(own)} label vectors "
          f"{'blended with' if o.blend else 'from'} {o.source}"
          + (f" ({len(extra)} added: {', '.join(extra)})" if extra else "") + "; "
          "the encoder and text tower are the model's (calibrate its events again: "
          "tools/events/calibrate.sh)")


if __name__ == "__main__":
    main()
