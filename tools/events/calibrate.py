#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Per-label event thresholds chosen on calibration scenes (issue 13).

Input: a trace of the windows libclar's tracker was fed on calibration
scenes (clar-embed --events --events-trace TRACE: every label's score per
window, times, active span) and the scenes' reference annotation
(make_scenes.py). The tracker itself never runs here: every setting is tried
by `clar-embed --events-replay TRACE`, which runs the very tracker of the
element over the recorded windows (no encoder), and scored with
sed_metrics.py (event-based F1, sed_eval/DCASE collars).

 1. Post-processing shared by all labels: smoothing (--smoothing), minimum
    gap (--min-gaps) and minimum duration (--min-durations), each with one
    on threshold for every label from --global-on (off = --off-ratios'
    first value x on); the combination with the best micro event F1 wins
    (ties: the earlier, i.e. simpler, one).
 2. With those fixed, per label (on, off) from the grid --on x --off-ratios:
    each replay sets every label to one grid point, so one run gives every
    class's F1 at that point (a label's track depends on its own scores
    only). A class's choice maximises its event F1 averaged with its
    neighbours' on the on axis (a single lucky grid point on 5-10 events is
    noise), then its own F1, then its segment F1, then the point nearest
    the global choice. Labels without a reference event in the calibration
    scenes (and the --ignore background labels) keep stage 1's global
    thresholds: nothing here says anything about them.

Writes the per-label threshold file (LABEL<TAB>ON<TAB>OFF, the format of
clarembed's event-thresholds-location and clar-embed --event-thresholds),
whose comments name the stage-1 options that go with it, and --json with
the choices and the calibration scores.

  calibrate.py TRACE REFERENCE.tsv --embed BUILD/tools/clar-embed --out FILE.tsv
               [--json OUT.json] [--note TEXT]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sed_metrics  # noqa: E402


def floats(s):
    return [float(x) for x in s.split(",") if x]


def trace_labels(path):
    with open(path, encoding="utf-8") as fh:
        first = fh.readline().rstrip("\n")
        second = fh.readline().rstrip("\n")
    if first != "# clar-embed events trace 1" or not second.startswith("labels\t"):
        raise SystemExit(f"calibrate: {path}: not a clar-embed events trace")
    return second.split("\t")[1:]


class Replayer:
    """Runs clar-embed --events-replay and scores its events."""

    def __init__(self, embed, trace, reference, ignore):
        self.embed, self.trace, self.ignore = embed, trace, ignore
        self.ref = sed_metrics.read_events(reference)
        self.runs = 0

    def events(self, args):
        p = subprocess.run([self.embed, "--events-replay", self.trace] + args,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise SystemExit(f"calibrate: clar-embed --events-replay {' '.join(args)}: "
                             f"{p.stderr.decode(errors='replace').strip()}")
        self.runs += 1
        with tempfile.NamedTemporaryFile("wb", suffix=".jsonl") as fh:
            fh.write(p.stdout)
            fh.flush()
            return sed_metrics.read_events(fh.name, self.ignore)

    def score(self, args):
        return sed_metrics.evaluate(self.ref, self.events(args))


def post_args(smoothing, gap, dur):
    return ["--event-smoothing", smoothing, "--event-min-gap", f"{gap:g}",
            "--event-min-duration", f"{dur:g}"]


def thr_args(on, off):
    return ["--event-on", f"{on:g}", "--event-off", f"{off:g}"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trace")
    ap.add_argument("reference")
    ap.add_argument("--embed", required=True, help="clar-embed")
    ap.add_argument("--out", required=True, help="threshold file to write")
    ap.add_argument("--json")
    ap.add_argument("--note", default="", help="comment line(s) for the file (e.g. the model)")
    ap.add_argument("--ignore", default="silence,noise")
    ap.add_argument("--smoothing", default="none,median:3,exp:0.5")
    ap.add_argument("--min-gaps", default="0,0.25")
    ap.add_argument("--min-durations", default="0,0.2,0.4")
    ap.add_argument("--global-on", default="0.2,0.3,0.4,0.5,0.6")
    ap.add_argument("--on", default=",".join(f"{x / 100:g}" for x in range(10, 95, 5)))
    ap.add_argument("--off-ratios", default="0.6,0.8,1")
    a = ap.parse_args(argv)
    ignore = {x for x in a.ignore.split(",") if x}
    ons, ratios = sorted(floats(a.on)), floats(a.off_ratios)
    if not ons or not ratios or any(not 0 <= x <= 1 for x in ons + ratios):
        raise SystemExit("calibrate: --on and --off-ratios need values in [0, 1]")
    labels = trace_labels(a.trace)
    rp = Replayer(a.embed, a.trace, a.reference, ignore)
    ref_classes = sorted({e[3] for e in rp.ref})
    missing = [c for c in ref_classes if c not in labels]
    if missing:
        raise SystemExit(f"calibrate: reference classes {missing} are no labels of the trace")

    # Stage 1: post-processing for all labels.
    best = None
    for sm in [x for x in a.smoothing.split(",") if x]:
        for gap in floats(a.min_gaps):
            for dur in floats(a.min_durations):
                for on in floats(a.global_on):
                    off = round(on * ratios[0], 4)
                    r = rp.score(post_args(sm, gap, dur) + thr_args(on, off))
                    f = r["event"]["micro"]["f1"] or 0.0
                    print(f"calibrate: {sm:<9} gap {gap:<4g} min {dur:<4g} on {on:<4g} "
                          f"off {off:<6g} event F1 {f:.3f}", file=sys.stderr)
                    if best is None or f > best[0] + 1e-12:
                        best = (f, sm, gap, dur, on, off)
    f_glob, sm, gap, dur, g_on, g_off = best
    post = post_args(sm, gap, dur)

    # Stage 2: per label, one replay per grid point.
    grid = {}
    for r_i, ratio in enumerate(ratios):
        for o_i, on in enumerate(ons):
            off = round(on * ratio, 4)
            res = rp.score(post + thr_args(on, off))
            for c in ref_classes:
                e, s = res["event"]["class"].get(c), res["segment"]["class"].get(c)
                grid[c, r_i, o_i] = (e["f1"] or 0.0 if e else 0.0,
                                     s["f1"] or 0.0 if s else 0.0, on, off)
    chosen = {}
    for c in ref_classes:
        cands = []
        for r_i in range(len(ratios)):
            for o_i in range(len(ons)):
                ev, sg, on, off = grid[c, r_i, o_i]
                nb = [grid[c, r_i, j][0] for j in (o_i - 1, o_i, o_i + 1) if 0 <= j < len(ons)]
                cands.append((sum(nb) / len(nb), ev, sg, -abs(on - g_on) - abs(off - g_off),
                              on, off))
        cands.sort(reverse=True)
        chosen[c] = cands[0]

    with open(a.out, "w", encoding="utf-8") as fh:
        fh.write("# Per-label sound-event thresholds (LABEL<TAB>ON<TAB>OFF), chosen by\n"
                 "# tools/events/calibrate.py on generated calibration scenes.\n")
        for line in a.note.splitlines():
            fh.write(f"# {line}\n")
        fh.write(f"# Chosen with these tracker options, which go with this file: "
                 f"{' '.join(post)}\n"
                 f"# (clarembed: event-smoothing, event-min-gap, event-min-duration).\n"
                 f"# Labels with no event in the calibration scenes: the global choice "
                 f"(on {g_on:g}, off {g_off:g}).\n")
        for lab in labels:
            if lab in chosen:
                on, off = chosen[lab][4], chosen[lab][5]
                fh.write(f"{lab}\t{on:g}\t{off:g}\n")
            else:
                fh.write(f"{lab}\t{g_on:g}\t{g_off:g}\n")
    final = rp.score(post + ["--event-thresholds", a.out])
    summary = {
        "options": post, "global_on": g_on, "global_off": g_off,
        "global_event_f1": f_glob,
        "per_label": {c: {"on": v[4], "off": v[5], "event_f1": v[1], "event_f1_neighbours": v[0]}
                      for c, v in chosen.items()},
        "calibration_event_f1": final["event"]["micro"]["f1"],
        "calibration_segment_f1": final["segment"]["micro"]["f1"],
        "replays": rp.runs,
    }
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(summary, fh, indent=1, sort_keys=True)
    print(f"calibrate: {' '.join(post)}, global on {g_on:g} off {g_off:g} "
          f"(calibration event F1 {f_glob:.3f}); per label: calibration event F1 "
          f"{final['event']['micro']['f1']:.3f}, segment F1 "
          f"{final['segment']['micro']['f1']:.3f} ({rp.runs} replays); wrote {a.out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
