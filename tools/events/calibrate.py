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
 2. With those fixed, (on, off) from the grid --on x --off-ratios: each
    replay sets every label to one grid point, so one run gives every
    class's F1 at that point (a label's track depends on its own scores
    only). One pair for all labels: the point with the best micro event F1.
    Per label: a class's point maximises its event F1 averaged with its
    neighbours' on the on axis (a single lucky grid point on 5-10 events is
    noise), then its own F1, then the point nearest the global pair.
    Per domain (build_data.domain_of: words, instruments, effects): each
    domain's point maximises the micro event F1 over its classes, then lies
    nearest the global pair. A domain has tens of events, so its pair is
    steadier than a class's, and it still lets a model whose instrument
    scores run lower than its word scores find the instrument events that
    one pair for all would miss.
    Per domain with its own tracker options ("domain-tracker"): each
    domain's smoothing, minimum gap and minimum duration (the stage-1 grid)
    and its pair are chosen together, on the micro event F1 over its
    classes (ties: the stage-1 options, then the pair nearest the global
    one). Instrument notes and words want different smoothing (a median over
    5 windows bridges a held note's dips; a single-window word does not
    survive one), which one setting for every label cannot give. The file
    names a domain's options in "#% label-tracker: LABEL ..." lines
    (include/clar/events.h) for each of its labels, where they differ from
    the "#% tracker:" line.
    The structures (--structures: global, domain, domain-tracker, label)
    are compared by a 2-fold cross-validation on the calibration scenes:
    each is chosen on one half of the scenes and scored on the other, both
    ways. The best wins; a tie goes to the simpler (global, then per
    domain, then per domain with its tracker options, then per label).
    Labels without a reference event in the calibration scenes get their
    domain's pair under the per-domain structure and the global pair
    otherwise (as do the --ignore background labels, which have no domain):
    nothing here says more about them.

Writes the per-label threshold file (LABEL<TAB>ON<TAB>OFF, the format of
clarembed's event-thresholds-location and clar-embed --event-thresholds),
whose comments name the stage-1 options that go with it, for people and, in
the line "#% tracker: smoothing=... min-gap-ns=... min-duration-ns=..."
(include/clar/events.h), for clarembed and clar-embed, which apply them
unless the user sets those options; and --json with the choices and the
calibration scores.

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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "data"))
from build_data import domain_of, gm_families  # noqa: E402

STRUCTURES = ("global", "domain", "domain-tracker", "label")
STRUCTURE_TEXT = {"global": "one threshold pair for all labels",
                  "domain": "a pair per domain",
                  "domain-tracker": "a pair and tracker options per domain",
                  "label": "per-label thresholds"}


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


def tracker_fields(smoothing, gap, dur):
    """KEY=VALUE fields of a tracker directive (include/clar/events.h): the
    options of post_args, durations in whole nanoseconds."""
    return (f"smoothing={smoothing} min-gap-ns={round(gap * 1e9)} "
            f"min-duration-ns={round(dur * 1e9)}")


def tracker_directive(smoothing, gap, dur):
    """The file's "#% tracker:" line: options for every label."""
    return f"#% tracker: {tracker_fields(smoothing, gap, dur)}\n"


def label_tracker_directive(label, smoothing, gap, dur):
    """A "#% label-tracker:" line: one label's own options."""
    return f"#% label-tracker: {label} {tracker_fields(smoothing, gap, dur)}\n"


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
    ap.add_argument("--smoothing", default="none,median:3,median:5,exp:0.5")
    ap.add_argument("--min-gaps", default="0,0.25")
    ap.add_argument("--min-durations", default="0,0.2,0.4")
    ap.add_argument("--global-on", default="0.2,0.3,0.4,0.5,0.6")
    ap.add_argument("--on", default=",".join(f"{x / 100:g}" for x in range(10, 95, 5)))
    ap.add_argument("--off-ratios", default="0.6,0.8,1")
    ap.add_argument("--structures", default=",".join(STRUCTURES),
                    help="threshold structures the cross-validation chooses from "
                         f"(some of {','.join(STRUCTURES)})")
    a = ap.parse_args(argv)
    structures = [x for x in a.structures.split(",") if x]
    if not structures or any(x not in STRUCTURES for x in structures):
        raise SystemExit(f"calibrate: --structures takes some of {','.join(STRUCTURES)}")
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
    posts = [(sm, gap, dur) for sm in [x for x in a.smoothing.split(",") if x]
             for gap in floats(a.min_gaps) for dur in floats(a.min_durations)]
    for sm, gap, dur in posts:
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

    # Stage 2: one replay per grid point (every label at that point), scored
    # on all calibration scenes and on each half of them (scenes alternately).
    files = sorted({e[0] for e in rp.ref})
    halves = [set(files[0::2]), set(files[1::2])]
    points = [(on, round(on * ratio, 4)) for ratio in ratios for on in ons]

    def grid_counts(post_opts):
        """[scope][point][class] = [tp, fp, fn] with these tracker options;
        scope "all", 0 or 1."""
        out = {"all": [], 0: [], 1: []}
        for on, off in points:
            sysev = rp.events(post_opts + thr_args(on, off))
            for scope in out:
                half = None if scope == "all" else halves[scope]
                r = sed_metrics.evaluate([e for e in rp.ref if half is None or e[0] in half],
                                         [e for e in sysev if half is None or e[0] in half])
                out[scope].append({c: [v["tp"], v["fp"], v["fn"]]
                                   for c, v in r["event"]["class"].items()})
        return out

    g_post = posts.index((sm, gap, dur))
    counts = grid_counts(post)
    # Every option set's grid, for the domains that choose their own.
    by_post = [counts if j == g_post else grid_counts(post_args(*o)) if
               "domain-tracker" in structures else None for j, o in enumerate(posts)]

    def cls_f1(scope, i, c):
        return sed_metrics.f1(*counts[scope][i].get(c, [0, 0, 0])) or 0.0

    def micro(per_class_counts):
        t = [sum(v[k] for v in per_class_counts) for k in range(3)]
        return sed_metrics.f1(*t) or 0.0

    def choose_global(scope):
        return max(range(len(points)),
                   key=lambda i: (micro(counts[scope][i].values()),
                                  -abs(points[i][0] - g_on) - abs(points[i][1] - g_off)))

    def neighbours(i):
        # The same off ratio, the next on values.
        row, col = divmod(i, len(ons))
        return [row * len(ons) + j for j in (col - 1, col, col + 1) if 0 <= j < len(ons)]

    fams = gm_families()
    domains = {}
    for c in ref_classes:
        d = domain_of(c, fams)
        if d is not None and c not in ignore:
            domains.setdefault(d, []).append(c)

    def choose_per_domain(scope, g):
        out = {}
        for members in domains.values():
            i = max(range(len(points)), key=lambda i: (
                micro([counts[scope][i].get(c, [0, 0, 0]) for c in members]),
                -abs(points[i][0] - points[g][0]) - abs(points[i][1] - points[g][1])))
            out.update({c: i for c in members})
        return out

    def choose_domain_tracker(scope, g):
        """{class: (post index, point index)}: each domain's options and pair."""
        out = {}
        for members in domains.values():
            j, i = max(((j, i) for j in range(len(posts)) for i in range(len(points))),
                       key=lambda ji: (
                micro([by_post[ji[0]][scope][ji[1]].get(c, [0, 0, 0]) for c in members]),
                ji[0] == g_post,
                -abs(points[ji[1]][0] - points[g][0]) - abs(points[ji[1]][1] - points[g][1])))
            out.update({c: (j, i) for c in members})
        return out

    def choose_per_label(scope, g):
        out = {}
        for c in ref_classes:
            out[c] = max(range(len(points)), key=lambda i: (
                sum(cls_f1(scope, j, c) for j in neighbours(i)) / len(neighbours(i)),
                cls_f1(scope, i, c),
                -abs(points[i][0] - points[g][0]) - abs(points[i][1] - points[g][1])))
        return out

    # Per-label thresholds chosen on 5-10 events a class can fit noise, and
    # per-domain ones less so: choose each structure on one half of the
    # scenes, score it on the other (and the other way round), and keep the
    # one that does best there (2-fold cross-validation; ties: the simpler).
    # A chooser gives {class: (post index, point index)}; the others keep
    # the global options and pair.
    choosers = {"global": lambda scope, g: {},
                "domain": lambda scope, g: {c: (g_post, i) for c, i in
                                            choose_per_domain(scope, g).items()},
                "domain-tracker": choose_domain_tracker,
                "label": lambda scope, g: {c: (g_post, i) for c, i in
                                           choose_per_label(scope, g).items()}}
    cv = {name: [] for name in structures}
    for k in (0, 1):
        g = choose_global(1 - k)
        for name in structures:
            ch = choosers[name](1 - k, g)
            classes = set(counts[k][g]) | set(ch)
            cv[name] += [by_post[j][k][i].get(c, [0, 0, 0])
                         for c in classes for j, i in [ch.get(c, (g_post, g))]]
    cv_f1 = {name: micro(v) for name, v in cv.items()}
    structure = max(structures, key=lambda n: (cv_f1[n], -STRUCTURES.index(n)))
    g_all = choose_global("all")
    pd_all = choose_per_domain("all", g_all)
    pl_all = choose_per_label("all", g_all)
    g_on, g_off = points[g_all]
    dom_pair = {d: points[pd_all[m[0]]] for d, m in domains.items()}
    dom_post, own_dom = {}, {}
    if structure == "domain-tracker":
        dt_all = choose_domain_tracker("all", g_all)
        dom_pair = {d: points[dt_all[m[0]][1]] for d, m in domains.items()}
        dom_post = {d: posts[dt_all[m[0]][0]] for d, m in domains.items()}
        # The domains whose options differ from the "#% tracker:" line's.
        own_dom = {d: o for d, o in dom_post.items() if o != (sm, gap, dur)}
    chosen, own_post = {}, {}
    if structure == "label":
        chosen = {c: points[i] for c, i in pl_all.items()}
    elif structure in ("domain", "domain-tracker"):
        # Every label of a domain, with or without a calibration event.
        for lab in labels:
            d = domain_of(lab, fams)
            if lab not in ignore and d in dom_pair:
                chosen[lab] = dom_pair[d]
                if d in own_dom:
                    own_post[lab] = own_dom[d]
    cv_text = ", ".join(f"{STRUCTURE_TEXT[n]} {cv_f1[n]:.3f}" for n in structures)

    with open(a.out, "w", encoding="utf-8") as fh:
        fh.write("# Per-label sound-event thresholds (LABEL<TAB>ON<TAB>OFF), chosen by\n"
                 "# tools/events/calibrate.py on generated calibration scenes.\n")
        for line in a.note.splitlines():
            fh.write(f"# {line}\n")
        fh.write(f"# Chosen with these tracker options, which go with this file: "
                 f"{' '.join(post)}\n"
                 f"# (clarembed: event-smoothing, event-min-gap, event-min-duration).\n"
                 f"{tracker_directive(sm, gap, dur)}"
                 f"# Cross-validated event F1 (halves of the scenes): {cv_text};\n# so ")
        if structure == "label":
            fh.write(f"per-label thresholds (labels with no event in the\n# calibration "
                     f"scenes: the global choice, on {g_on:g}, off {g_off:g}).\n")
        elif structure in ("domain", "domain-tracker"):
            pairs = "; ".join(f"{d} on {p[0]:g}, off {p[1]:g}"
                              + (f" with {' '.join(post_args(*own_dom[d]))}"
                                 if d in own_dom else "")
                              for d, p in sorted(dom_pair.items()))
            fh.write(f"{STRUCTURE_TEXT[structure]}: {pairs}\n# (other labels: on {g_on:g}, "
                     f"off {g_off:g}).\n")
        else:
            fh.write(f"one pair for all labels: on {g_on:g}, off {g_off:g}.\n")
        for lab in labels:
            if lab in own_post:
                fh.write(label_tracker_directive(lab, *own_post[lab]))
        for lab in labels:
            on, off = chosen.get(lab, (g_on, g_off))
            fh.write(f"{lab}\t{on:g}\t{off:g}\n")
    # The file alone (its directives, as clarembed reads it): an explicit
    # --event-smoothing would override the label-tracker lines.
    final = rp.score(["--event-thresholds", a.out])
    summary = {
        "options": post, "global_on": g_on, "global_off": g_off,
        "stage1_event_f1": f_glob, "structure": structure, "cv_event_f1": cv_f1,
        "cv_event_f1_global": cv_f1.get("global"),
        "cv_event_f1_per_domain": cv_f1.get("domain"),
        "cv_event_f1_per_label": cv_f1.get("label"),
        "per_label_used": structure == "label",
        "per_domain_options": {d: post_args(*o) for d, o in sorted(dom_post.items())},
        "per_domain": {d: {"on": p[0], "off": p[1], "classes": domains[d],
                           "event_f1": micro([by_post[posts.index(dom_post.get(d, (sm, gap, dur)))]
                                              ["all"][points.index(p)].get(c, [0, 0, 0])
                                              for c in domains[d]])}
                       for d, p in sorted(dom_pair.items())},
        "per_label": {c: {"on": points[i][0], "off": points[i][1],
                          "event_f1": cls_f1("all", i, c)} for c, i in pl_all.items()},
        "calibration_event_f1": final["event"]["micro"]["f1"],
        "calibration_segment_f1": final["segment"]["micro"]["f1"],
        "replays": rp.runs,
    }
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(summary, fh, indent=1, sort_keys=True)
    print(f"calibrate: {' '.join(post)}; cross-validated event F1: "
          + ", ".join(f"{n} {cv_f1[n]:.3f}" for n in structures)
          + f" -> {structure} (global on {g_on:g} off {g_off:g}); calibration event F1 "
          f"{final['event']['micro']['f1']:.3f}, segment F1 "
          f"{final['segment']['micro']['f1']:.3f} ({rp.runs} replays); wrote {a.out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
