#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Leave-one-source-out check of label rows for classes a model lacks, on
training clips only (no val clip is read).

A model that gains a class by its prototype (clar-enroll --classes C, then
tools/set-labels.py --add) is judged here on sources it has not heard:
for each source (manifest column "source", e.g. "mined:cube2-data") that
has clips of C, the row of C is rebuilt from the other sources' clips and
the held-out source's clips of C are scored by the model's head with that
row appended. Also reported: how many clips of the model's own classes the
new rows (built from every source) take, the cost of adding them.

    tools/new-class-lopo.py MODEL MANIFEST --classes pain_grunt,laughter
        [--split train] [--min-fill 0.1] [--only sounds/,sounds-mined/]
        [--how mean|source-mean] [--build _build] [--json]

--json prints the figures and the rows built from every source (the
vectors clar-enroll --classes would write for --how mean).

--how mean is clar-enroll's prototype (the mean of the clips' unit clip
embeddings, normalised); source-mean averages each source's mean first,
so that one large source does not set the direction. --only keeps the
clips whose path starts with one of the prefixes (the domain the classes
belong to). Clip embeddings are clar-embed --clip's, the same as
clar-enroll's (clip-embed.h: the normalised mean of the clip's windows
every half window; a final partial window kept when it holds --min-fill
of a window). Needs numpy.
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
from clar.model import ModelFile, ModelFileError  # noqa: E402
from clar import safetensors  # noqa: E402
from clar.data import read_manifest  # noqa: E402


def clip_embeddings(embed, model, paths, min_fill):
    """{path: unit clip embedding or None}, by clar-embed --clip (clip-embed.h)."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        npy = os.path.join(tmp, "e.npy")
        # clar-embed takes many files per call; a few hundred per call keeps
        # the command line short.
        step = 400
        for i in range(0, len(paths), step):
            part = paths[i:i + step]
            r = subprocess.run([embed, "--model", model, "--clip", "--min-fill", str(min_fill),
                                "--top-k", "0", "--npy", npy] + part,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            if r.returncode != 0 and not os.path.exists(npy):
                sys.exit(f"new-class-lopo.py: clar-embed failed: {r.stderr.strip()[-500:]}")
            # Row i of the .npy belongs to output line i; a file that gave no
            # clip embedding has no line (clar-embed says why on stderr).
            files = [json.loads(line)["file"] for line in r.stdout.splitlines()]
            E = np.load(npy).astype(np.float64)
            if E.shape[0] != len(files):
                sys.exit(f"new-class-lopo.py: clar-embed wrote {E.shape[0]} rows for {len(files)} lines")
            got = dict(zip(files, E))
            for p in part:
                out[p] = got.get(p)
            os.remove(npy)
    return out


def row(vectors, sources, how):
    """The unit row of a class from its clips' unit embeddings."""
    if how == "mean":
        v = np.mean(vectors, axis=0)
    else:
        by = collections.defaultdict(list)
        for e, s in zip(vectors, sources):
            by[s].append(e)
        v = np.mean([np.mean(x, axis=0) / np.linalg.norm(np.mean(x, axis=0)) for x in by.values()], axis=0)
    return v / np.linalg.norm(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("manifest")
    ap.add_argument("--classes", required=True, help="comma-separated classes the model lacks")
    ap.add_argument("--split", default="train")
    ap.add_argument("--min-fill", type=float, default=0.1)
    ap.add_argument("--only", default="", help="comma-separated path prefixes to keep")
    ap.add_argument("--how", choices=("mean", "source-mean"), default="mean")
    ap.add_argument("--build", default=os.path.join(ROOT, "_build"))
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    o = ap.parse_args()
    if not 0 < o.min_fill <= 1:
        sys.exit(f"new-class-lopo.py: --min-fill {o.min_fill} is not in (0, 1]")
    embed = os.path.join(o.build, "tools", "clar-embed")
    if not os.access(embed, os.X_OK):
        sys.exit(f"new-class-lopo.py: no {embed} (build the project, or give --build)")
    try:
        m = ModelFile.load(o.model)
    except (OSError, ModelFileError, safetensors.SafetensorsError) as e:
        sys.exit(f"new-class-lopo.py: {e}")
    if not m.labels:
        sys.exit(f"new-class-lopo.py: {o.model} has no labels")
    names, W, _ = m.labels
    names, W = list(names), np.asarray(W, dtype=np.float64)
    new = [c for c in o.classes.split(",") if c]
    if not new or len(set(new)) != len(new):
        sys.exit("new-class-lopo.py: --classes names no class, or one twice")
    have = [c for c in new if c in names]
    if have:
        sys.exit(f"new-class-lopo.py: the model already names {', '.join(have)}")
    prefixes = tuple(p for p in o.only.split(",") if p)
    # The manifest as clar-eval reads it (python/clar/data.py): positional
    # columns, comments, paths against the manifest's folder; --only's
    # prefixes are matched against the paths as the manifest writes them.
    base = os.path.dirname(o.manifest)
    try:
        rows = read_manifest(o.manifest, split=o.split)
    except ValueError:
        rows = []
    except (OSError, UnicodeDecodeError) as e:
        sys.exit(f"new-class-lopo.py: {o.manifest}: {e}")
    clips = []
    for c in rows:
        written = os.path.relpath(c.path, base) if base else c.path
        if prefixes and not (written.startswith(prefixes) or c.path.startswith(prefixes)):
            continue
        if c.label in new or c.label in names:
            clips.append((c.path, c.label, c.source or "?"))
    lacking = [c for c in new if not any(lab == c for _, lab, _ in clips)]
    if lacking:
        sys.exit(f"new-class-lopo.py: no {o.split} clip of {', '.join(lacking)} in {o.manifest}")
    emb = clip_embeddings(embed, o.model, [p for p, _, _ in clips], o.min_fill)
    unembedded = sum(1 for p, _, _ in clips if emb[p] is None)
    if unembedded:
        print(f"new-class-lopo.py: {unembedded} clips gave no window (shorter than --min-fill of a "
              "window, or undecodable) and are left out", file=sys.stderr)
    clips = [(p, lab, s) for p, lab, s in clips if emb[p] is not None]
    E = {p: emb[p] for p, _, _ in clips}
    report = {"model": os.path.basename(o.model), "how": o.how, "classes": {}}
    rn = names + new

    def class_row(c, leave_out=None):
        """The row of new class c from its clips, those of source leave_out left out."""
        cl = [(p, s) for p, lab, s in clips if lab == c and s != leave_out]
        return row([E[p] for p, _ in cl], [s for _, s in cl], o.how)

    full = {c: class_row(c) for c in new}
    for c in new:
        own = [(p, s) for p, lab, s in clips if lab == c]
        per = {}
        for src in sorted({s for _, s in own}):
            if all(s == src for _, s in own):
                per[src] = None     # the only source: nothing to build the row from
                continue
            R = np.vstack([W] + [class_row(c, src) if c2 == c else full[c2] for c2 in new])
            held = [p for p, s in own if s == src]
            pred = np.argmax(np.array([E[p] for p in held]) @ R.T, axis=1)
            per[src] = (int(sum(rn[k] == c for k in pred)), len(held))
        scored = {k: v for k, v in per.items() if v}
        report["classes"][c] = {
            "sources": {k: list(v) if v else None for k, v in per.items()},
            "hits": sum(v[0] for v in scored.values()),
            "clips": sum(v[1] for v in scored.values()),
            "source_mean_recall": (float(np.mean([v[0] / v[1] for v in scored.values()]))
                                   if scored else None)}
    R = np.vstack([W] + [full[c] for c in new])
    others = [(p, lab) for p, lab, _ in clips if lab not in new]
    taken = collections.Counter()
    if others:
        pred = np.argmax(np.array([E[p] for p, _ in others]) @ R.T, axis=1)
        for (p, lab), k in zip(others, pred):
            if rn[k] in new:
                taken[f"{lab} -> {rn[k]}"] += 1
    report["others"] = {"clips": len(others), "taken": sum(taken.values()), "by_class": dict(taken)}
    report["rows"] = {c: [round(float(x), 7) for x in full[c]] for c in new}
    if o.json:
        print(json.dumps(report, indent=1, sort_keys=True))
        return
    print(f"# {report['model']}: rows of {', '.join(new)} by '{o.how}', each source of a class "
          f"held out in turn ({o.split} clips of {o.manifest})")
    for c in new:
        r = report["classes"][c]
        for src, v in r["sources"].items():
            print(f"{c}\t{src}\t" + (f"{v[0]}/{v[1]}" if v else "only source: not scored"))
        smr = r["source_mean_recall"]
        print(f"{c}\tall held-out sources\t{r['hits']}/{r['clips']}\t(mean over sources "
              + (f"{smr:.3f})" if smr is not None else "-)"))
    ot = report["others"]
    print(f"other classes' clips taken by the new rows (built from every source): {ot['taken']}/{ot['clips']}"
          + ("".join(f"\n  {k}: {v}" for k, v in sorted(ot["by_class"].items()))))


if __name__ == "__main__":
    main()
