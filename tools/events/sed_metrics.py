#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Event-based and segment-based F1 of sound event detection, as sed_eval
defines them (Mesaros, Heittola & Virtanen, "Metrics for Polyphonic Sound
Event Detection", Applied Sciences 6(6):162, 2016; sed_eval.sound_event) with
the DCASE settings: onset collar 250 ms, offset collar max(250 ms, 20% of the
reference event's length), segments of 1 s. Standard library only.

Event-based: per file and class, a system event matches a reference event of
the same label when |onset difference| <= t_collar and |offset difference| <=
max(t_collar, percentage_of_length * reference length); each event matches at
most one (a maximum bipartite matching, sed_eval's 'optimal' event matching).
TP = matches, FP = system events - TP, FN = reference events - TP.

Segment-based: per file, time is cut into segments [k r, (k+1) r); a class is
active in segment k when an event of it covers any of it (onset segment
floor(onset / r) up to, not including, ceil(offset / r), as dcase_util's
event roll). Per segment and class: TP both active, FP system only, FN
reference only.

F1 = 2 TP / (2 TP + FP + FN); micro ("overall") sums TP/FP/FN over classes
(and files), macro ("class-wise average") averages the classes' F1 over the
classes of the reference.

Inputs: reference TSV `file<TAB>onset<TAB>offset<TAB>label[<TAB>...]` (a
header line starting with "file" is skipped) and system events as that TSV
or as clar-embed --events JSON lines (file, label, start, end). Files are
matched by base name.

  sed_metrics.py REFERENCE.tsv SYSTEM.(tsv|jsonl) [--ignore silence,noise]
                 [--json OUT.json]
"""
import argparse
import json
import math
import os
import sys

T_COLLAR = 0.250
PERCENTAGE_OF_LENGTH = 0.2
TIME_RESOLUTION = 1.0


def f1(tp, fp, fn):
    d = 2 * tp + fp + fn
    return 2 * tp / d if d else None


def match_count(ref, est, t_collar=T_COLLAR, pol=PERCENTAGE_OF_LENGTH):
    """Size of a maximum matching between reference and system events (lists of
    (onset, offset)) under the onset and offset conditions (Kuhn's augmenting
    paths; event lists are short)."""
    ok = [[j for j, e in enumerate(est)
           if abs(r[0] - e[0]) <= t_collar
           and abs(r[1] - e[1]) <= max(t_collar, pol * (r[1] - r[0]))]
          for r in ref]
    owner = [-1] * len(est)

    def augment(i, seen):
        for j in ok[i]:
            if j in seen:
                continue
            seen.add(j)
            if owner[j] < 0 or augment(owner[j], seen):
                owner[j] = i
                return True
        return False

    return sum(1 for i in range(len(ref)) if augment(i, set()))


def by_file_class(events):
    out = {}
    for f, on, off, lab in events:
        out.setdefault(f, {}).setdefault(lab, []).append((on, off))
    return out


def segment_roll(events, n_seg, res):
    """{label: set of active segment indices} for one file."""
    roll = {}
    for lab, evs in events.items():
        s = roll.setdefault(lab, set())
        for on, off in evs:
            # floor/ceil with a tolerance: 3.0000000001 s is segment 3's end.
            a = int(math.floor(on / res + 1e-9))
            b = int(math.ceil(off / res - 1e-9))
            s.update(range(max(a, 0), min(b, n_seg)))
    return roll


def evaluate(reference, system, t_collar=T_COLLAR, pol=PERCENTAGE_OF_LENGTH,
             res=TIME_RESOLUTION):
    """reference, system: lists of (file, onset, offset, label). Returns a dict
    with per-class and overall counts and F1 for both metrics."""
    ref = by_file_class(reference)
    est = by_file_class(system)
    classes = sorted({e[3] for e in reference} | {e[3] for e in system})
    ev = {c: [0, 0, 0] for c in classes}    # tp, fp, fn
    sg = {c: [0, 0, 0] for c in classes}
    for f in sorted(set(ref) | set(est)):
        r, s = ref.get(f, {}), est.get(f, {})
        for c in classes:
            rc, sc = r.get(c, []), s.get(c, [])
            tp = match_count(rc, sc, t_collar, pol)
            ev[c][0] += tp
            ev[c][1] += len(sc) - tp
            ev[c][2] += len(rc) - tp
        end = max([off for evs in list(r.values()) + list(s.values()) for _, off in evs] + [0])
        n_seg = int(math.ceil(end / res - 1e-9))
        rr, sr = segment_roll(r, n_seg, res), segment_roll(s, n_seg, res)
        for c in classes:
            a, b = rr.get(c, set()), sr.get(c, set())
            sg[c][0] += len(a & b)
            sg[c][1] += len(b - a)
            sg[c][2] += len(a - b)
    ref_classes = sorted({e[3] for e in reference})

    def summary(counts):
        tp = sum(v[0] for v in counts.values())
        fp = sum(v[1] for v in counts.values())
        fn = sum(v[2] for v in counts.values())
        per = {c: {"tp": v[0], "fp": v[1], "fn": v[2], "f1": f1(*v)} for c, v in counts.items()}
        fs = [per[c]["f1"] for c in ref_classes if per[c]["f1"] is not None]
        return {"class": per, "micro": {"tp": tp, "fp": fp, "fn": fn, "f1": f1(tp, fp, fn),
                                        "precision": tp / (tp + fp) if tp + fp else None,
                                        "recall": tp / (tp + fn) if tp + fn else None},
                "macro_f1": sum(fs) / len(fs) if fs else None}

    return {"event": summary(ev), "segment": summary(sg), "classes": classes,
            "reference_classes": ref_classes,
            "settings": {"t_collar": t_collar, "percentage_of_length": pol,
                         "time_resolution": res}}


def read_events(path, ignore=()):
    """(file base name, onset, offset, label) from a TSV or clar-embed JSON lines."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip() or line.startswith("#"):
                continue
            if line.lstrip().startswith("{"):
                try:
                    d = json.loads(line)
                    f, on, off, lab = d["file"], float(d["start"]), float(d["end"]), d["label"]
                except (ValueError, KeyError, TypeError) as e:
                    raise SystemExit(f"{path}:{n}: not a clar-embed event line ({e})")
            else:
                p = line.split("\t")
                if n == 1 and p[0] == "file":
                    continue
                if len(p) < 4:
                    raise SystemExit(f"{path}:{n}: expected file<TAB>onset<TAB>offset<TAB>label")
                try:
                    f, on, off, lab = p[0], float(p[1]), float(p[2]), p[3]
                except ValueError:
                    raise SystemExit(f"{path}:{n}: onset and offset must be numbers")
            if not (math.isfinite(on) and math.isfinite(off)) or off < on:
                raise SystemExit(f"{path}:{n}: bad times {on} {off}")
            if lab in ignore:
                continue
            out.append((os.path.basename(f), on, off, lab))
    return out


def fmt(x):
    return "-" if x is None else f"{x:.3f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reference")
    ap.add_argument("system")
    ap.add_argument("--ignore", default="",
                    help="comma-separated system labels to leave out (e.g. background "
                         "classes: silence,noise)")
    ap.add_argument("--json", help="write the full result here")
    ap.add_argument("--t-collar", type=float, default=T_COLLAR)
    ap.add_argument("--percentage-of-length", type=float, default=PERCENTAGE_OF_LENGTH)
    ap.add_argument("--time-resolution", type=float, default=TIME_RESOLUTION)
    a = ap.parse_args(argv)
    ignore = {x for x in a.ignore.split(",") if x}
    ref = read_events(a.reference)
    sysev = read_events(a.system, ignore)
    res = evaluate(ref, sysev, a.t_collar, a.percentage_of_length, a.time_resolution)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=1, sort_keys=True)
    e, s = res["event"], res["segment"]
    print(f"{'class':<16} {'ref':>4} {'sys':>4} {'event F1':>9} {'segment F1':>11}")
    for c in res["classes"]:
        ce, cs = e["class"][c], s["class"][c]
        print(f"{c:<16} {ce['tp'] + ce['fn']:>4} {ce['tp'] + ce['fp']:>4} "
              f"{fmt(ce['f1']):>9} {fmt(cs['f1']):>11}")
    print(f"{'micro':<16} {e['micro']['tp'] + e['micro']['fn']:>4} "
          f"{e['micro']['tp'] + e['micro']['fp']:>4} {fmt(e['micro']['f1']):>9} "
          f"{fmt(s['micro']['f1']):>11}")
    print(f"{'macro':<16} {'':>4} {'':>4} {fmt(e['macro_f1']):>9} {fmt(s['macro_f1']):>11}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
