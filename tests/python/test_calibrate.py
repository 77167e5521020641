#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""tools/events/calibrate.py and clar-embed --events-replay on a scripted
trace: label "quiet" scores 0.4 in its events (the default on threshold 0.5
misses them all), label "spiky" scores 0.95 in its events and 0.6 in single
stray windows (a low threshold adds false events), label "other" has no
reference event (it keeps the global choice). The calibrated file must find
every event and no stray one; corrupt traces must fail with the line. A
second trace needs a pair per domain (instruments low, words high), a third
tracker options per domain (notes want a median, words none)."""
import json
import os
import subprocess
import sys
import tempfile

from clar_testutil import BUILD, ROOT, SKIP, Checks

sys.path.insert(0, os.path.join(ROOT, "tools", "events"))
import sed_metrics  # noqa: E402

check = Checks()


if not BUILD or not os.path.exists(os.path.join(BUILD, "tools", "clar-embed")):
    print("no clar-embed (run through meson test): skipped")
    sys.exit(SKIP)
embed = os.path.join(BUILD, "tools", "clar-embed")
NS, HOP = 1000000000, 500000000
LABELS = ["other", "quiet", "silence", "spiky"]


def cell(i):
    """Window i (1 s every 0.5 s) stands for [i/2 + 0.25, i/2 + 0.75) s."""
    return i * 0.5 + 0.25, i * 0.5 + 0.75


def write_trace(path, ref_path, labels, n_files, scene, floor):
    """A scripted trace and its reference. scene(f) gives file f's tracks,
    {label: (event windows, score in them, stray windows, stray score,
    score elsewhere)}; every other label scores floor, silence the rest."""
    refs = []
    with open(path, "w") as t:
        t.write("# clar-embed events trace 1\nlabels\t" + "\t".join(labels) + "\n")
        for f in range(n_files):
            name = f"scene-{f}.wav"
            t.write(f"file\t{name}\t{HOP}\n")
            tracks = scene(f)
            for lab, (ev, *_rest) in tracks.items():
                refs.append((name, cell(min(ev))[0], cell(max(ev))[1], lab))
            for i in range(26):
                s = {k: floor for k in labels if k != "silence"}
                for lab, (ev, on, stray, stray_score, base) in tracks.items():
                    s[lab] = on if i in ev else stray_score if i in stray else base
                s["silence"] = round(max(0.0, 1 - sum(s.values())), 6)
                t.write(f"w\t{i}\t{i * HOP}\t{i * HOP + NS}\t{i * HOP}\t{i * HOP + NS}\t0.9\t"
                        + "\t".join(f"{s[k]:.9g}" for k in labels) + "\n")
    with open(ref_path, "w") as fh:
        fh.write("file\tonset\toffset\tlabel\n")
        for r in refs:
            fh.write(f"{r[0]}\t{r[1]:.3f}\t{r[2]:.3f}\t{r[3]}\n")


tmp = tempfile.mkdtemp()
trace, ref = os.path.join(tmp, "trace.tsv"), os.path.join(tmp, "reference.tsv")
# quiet: 4 windows at 0.4; spiky: 3 windows at 0.95 and single stray
# windows at 0.6.
write_trace(trace, ref, LABELS, 6, lambda f: {
    "quiet": (set(range(3 + f % 2, 7 + f % 2)), 0.4, set(), 0, 0.05),
    "spiky": (set(range(14, 17)), 0.95, {10 + f % 3, 22}, 0.6, 0.03)}, 0.02)


def replay(*args, trace_path=trace):
    p = subprocess.run([embed, "--events-replay", trace_path, *args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    return p.returncode, p.stdout, p.stderr


def f1_of(stdout, ref_path=ref):
    path = os.path.join(tmp, "sys.jsonl")
    with open(path, "w") as fh:
        fh.write(stdout)
    r = sed_metrics.evaluate(sed_metrics.read_events(ref_path),
                             sed_metrics.read_events(path, {"silence", "noise"}))
    return r["event"]["micro"]["f1"], r["event"]["class"]


out_tsv, out_json = os.path.join(tmp, "th.tsv"), os.path.join(tmp, "cal.json")


def run_calibrate(trace_path, ref_path, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "events", "calibrate.py"),
                           trace_path, ref_path, "--embed", embed, "--out", out_tsv, *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_thresholds(path):
    th = {}
    for line in open(path):
        if not line.startswith("#"):
            lab, on, off = line.rstrip("\n").split("\t")
            th[lab] = (float(on), float(off))
    return th


rc, out, err = replay()
check("replay with defaults exits 0", rc == 0)
f_def, per = f1_of(out)
check("defaults (on 0.5) miss every quiet event", per["quiet"]["tp"] == 0 and per["quiet"]["fn"] == 6)
rc, out, err = replay("--event-on", "0.3", "--event-off", "0.2")
f_low, per = f1_of(out)
check("on 0.3 for all labels: stray spiky events", per["spiky"]["fp"] > 0)

p = run_calibrate(trace, ref, "--json", out_json, "--note", "test trace",
                  "--smoothing", "none,median:3", "--min-gaps", "0", "--min-durations", "0,0.4")
check("calibrate.py exits 0", p.returncode == 0)
if p.returncode:
    print(p.stderr)
    sys.exit(1)
th = read_thresholds(out_tsv)
cal = json.load(open(out_json))
check("every label in the file", sorted(th) == LABELS)
check("cross-validation keeps the per-label thresholds",
      cal["per_label_used"] and cal["structure"] == "label"
      and cal["cv_event_f1_per_label"] > cal["cv_event_f1_global"])
check("quiet: on <= 0.4", th["quiet"][0] <= 0.4)
check("spiky: 0.6 < on <= 0.95", 0.6 < th["spiky"][0] <= 0.95)
check("off <= on", all(off <= on for on, off in th.values()))
g = (cal["global_on"], cal["global_off"])
check("other, silence: the global choice", th["other"] == g and th["silence"] == g)
check("'# test trace' note and the options in the comments",
      "# test trace\n" in open(out_tsv).read() and "--event-min-gap" in open(out_tsv).read())
rc, out, err = replay(*cal["options"], "--event-thresholds", out_tsv)
f_cal, per = f1_of(out)
print(f"event F1: defaults {f_def:.3f}, on 0.3 {f_low:.3f}, calibrated {f_cal:.3f}")
check("calibrated: event F1 1.0", rc == 0 and f_cal == 1.0)
check("calibrate.py's own score agrees", cal["calibration_event_f1"] == f_cal)
# The options in the "#% tracker:" line, which clar-embed applies when only
# the file is given: the same events.
o = dict(zip(cal["options"][0::2], cal["options"][1::2]))
want = (f"#% tracker: smoothing={o['--event-smoothing']} "
        f"min-gap-ns={round(float(o['--event-min-gap']) * 1e9)} "
        f"min-duration-ns={round(float(o['--event-min-duration']) * 1e9)}\n")
check(f"the file's tracker line: {want.strip()}",
      [x for x in open(out_tsv) if x.startswith("#%")] == [want])
rc2, out2, err = replay("--event-thresholds", out_tsv)
check("the file alone: the calibrated events", rc2 == 0 and out2 == out)

# A pair per domain (build_data.domain_of): the instrument labels bass and
# flute score 0.4 in their events, the word labels yes and no 0.95 in theirs
# and 0.6 in stray windows. One pair for all labels cannot serve both; a pair
# per domain does, as well as per-label pairs, and wins the tie as the
# simpler. organ (an instrument) and door (an effect) have no reference
# event: organ gets the instruments' pair, door the global one.
DLABELS = ["bass", "door", "flute", "no", "organ", "silence", "yes"]
dtrace, dref = os.path.join(tmp, "dtrace.tsv"), os.path.join(tmp, "dref.tsv")


def domain_scene(f):
    low, high = ("bass", "yes") if f // 2 % 2 else ("flute", "no")
    return {low: (set(range(3 + f % 2, 7 + f % 2)), 0.4, set(), 0, 0.05),
            high: (set(range(14, 17)), 0.95, {10 + f % 3, 22}, 0.6, 0.03)}


write_trace(dtrace, dref, DLABELS, 8, domain_scene, 0.01)


def calibrate(*extra):
    p = run_calibrate(dtrace, dref, "--json", out_json, "--smoothing", "none",
                      "--min-gaps", "0", "--min-durations", "0", *extra)
    if p.returncode:
        print(p.stderr)
        return p.returncode, {}, {}
    return p.returncode, read_thresholds(out_tsv), json.load(open(out_json))


rc, th, cal = calibrate()
check("per domain: calibrate.py exits 0", rc == 0)
cv = cal.get("cv_event_f1", {})
check(f"per domain: chosen by the cross-validation ({cv})",
      cal.get("structure") == "domain" and cv["domain"] > cv["global"]
      and cv["domain"] >= cv["label"])
check("per domain: bass, flute and organ share the instruments' pair, on <= 0.4",
      th["bass"] == th["flute"] == th["organ"] and th["bass"][0] <= 0.4
      and cal["per_domain"]["instruments"]["on"] == th["bass"][0])
check("per domain: yes and no share the words' pair, 0.6 < on <= 0.95",
      th["yes"] == th["no"] and 0.6 < th["yes"][0] <= 0.95)
g = (cal["global_on"], cal["global_off"])
check("per domain: door (no event) and silence keep the global pair",
      th["door"] == g and th["silence"] == g)
check("per domain: the file says so",
      "so a pair per domain: instruments on" in open(out_tsv).read())
rc, out, err = replay("--event-thresholds", out_tsv, trace_path=dtrace)
f_dom, _ = f1_of(out, ref_path=dref)
check(f"per domain: every event and no stray one (event F1 {f_dom:.3f})", rc == 0 and f_dom == 1.0)
rc, th, cal = calibrate("--structures", "global")
check("--structures global: one pair for all labels",
      rc == 0 and cal["structure"] == "global" and len(set(th.values())) == 1)
p = run_calibrate(dtrace, dref, "--structures", "domains")
check("--structures with an unknown name: a clear error",
      p.returncode != 0 and "--structures takes some of global,domain,domain-tracker,label" in p.stderr)

# Tracker options per domain: instrument notes (bass, flute) of 8 windows
# at 0.8 with a one-window dip to the floor after their second window, words
# (yes, no) one window at 0.9. Without smoothing a note falls in two (its
# first part ends too early, its second starts too late: neither matches);
# a median over 3 windows bridges the dip but wipes out every word. Only
# options per domain serve both: the labels of the domain whose options
# differ from the "#% tracker:" line's get a "#% label-tracker:" line.
def tracker_scene(f):
    note, word = ("bass", "yes") if f // 2 % 2 else ("flute", "no")
    return {note: (set(range(3, 12)) - {5}, 0.8, set(), 0, 0.03),
            word: ({16 + f % 3}, 0.9, set(), 0, 0.03)}


ttrace, tref = os.path.join(tmp, "ttrace.tsv"), os.path.join(tmp, "tref.tsv")
write_trace(ttrace, tref, DLABELS, 8, tracker_scene, 0.01)
p = run_calibrate(ttrace, tref, "--json", out_json, "--smoothing", "none,median:3",
                  "--min-gaps", "0", "--min-durations", "0")
check("tracker options per domain: calibrate.py exits 0", p.returncode == 0)
if p.returncode:
    print(p.stderr)
    sys.exit(1)
cal = json.load(open(out_json))
cv = cal["cv_event_f1"]
check(f"tracker options per domain: chosen by the cross-validation ({cv})",
      cal["structure"] == "domain-tracker"
      and cv["domain-tracker"] > max(cv["global"], cv["domain"], cv["label"]))
text = open(out_tsv).read()
glob = text.split("#% tracker: smoothing=")[1].split()[0]
own = {x.split()[2]: x.split("smoothing=")[1].split()[0]
       for x in text.split("\n") if x.startswith("#% label-tracker:")}
eff = {lab: own.get(lab, glob) for lab in DLABELS}
check(f"tracker options per domain: notes median:3, words none, lines only where they "
      f"differ from the global {glob} ({own})",
      eff["bass"] == eff["flute"] == eff["organ"] == "median:3" and eff["yes"] == eff["no"] == "none"
      and all(v != glob for v in own.values())
      and sorted(own) in (["bass", "flute", "organ"], ["no", "yes"]))
rc, out, err = replay("--event-thresholds", out_tsv, trace_path=ttrace)
f_tr, per = f1_of(out, ref_path=tref)
check(f"tracker options per domain: the file alone finds every note and word "
      f"(event F1 {f_tr:.3f})", rc == 0 and f_tr == 1.0 and cal["calibration_event_f1"] == 1.0)
rc, out, err = replay("--event-smoothing", "none", "--event-thresholds", out_tsv,
                      trace_path=ttrace)
f_ex, per = f1_of(out, ref_path=tref)
check(f"tracker options per domain: an explicit --event-smoothing none wins over the "
      f"file's lines (event F1 {f_ex:.3f}, notes split)",
      rc == 0 and f_ex < 1.0 and per["bass"]["tp"] == 0)

# Corrupt traces: a clear error naming the line, exit 2.
good = open(trace).read().split("\n")
for what, lines, want in [
        ("not a trace", ["hello"] + good[1:], ":1: not a clar-embed events trace"),
        ("a score missing", good[:3] + [good[3].rsplit("\t", 1)[0]] + good[4:], ":4: expected 4 scores"),
        ("junk in a number", good[:3] + [good[3].replace("\t0.9\t", "\t0.9x\t", 1)] + good[4:],
         ":4: bad similarity"),
        ("a score above 1", good[:3] + [good[3].rsplit("\t", 1)[0] + "\t1.5"] + good[4:],
         ":4: the tracker refuses this window"),
        ("window before a file line", good[:2] + good[3:], ":3: expected a file or w line"),
        ("no labels", good[:1], "no labels line")]:
    bad = os.path.join(tmp, "bad.tsv")
    with open(bad, "w") as fh:
        fh.write("\n".join(lines))
    p = subprocess.run([embed, "--events-replay", bad], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    check(f"corrupt trace ({what}): exit 2, '{want}'", p.returncode == 2 and want in p.stderr)
    if p.returncode != 2 or want not in p.stderr:
        print(p.stderr)
p = subprocess.run([embed, "--events-replay", os.path.join(tmp, "missing.tsv")],
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
check("missing trace: exit 1", p.returncode == 1 and "cannot read" in p.stderr)
p = subprocess.run([embed, "--events-replay", trace, "x.wav"], stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE, text=True)
check("replay with audio files: exit 2", p.returncode == 2)
check.exit()
