#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""clar-embed and the tracker options of a thresholds file ("#% tracker:"
and, per label, "#% label-tracker:", include/clar/events.h): with only
--event-thresholds FILE the file's options apply, a command-line flag wins
over the file's value of that option (for every label), and bad directives
are clear errors (exit 2, the file and line), never a crash.

1. --events-replay of a scripted trace: label "a" scores 0.9 in one stray
   window and in a run of four; a median of 3 windows erases the stray one
   (one event instead of two), so which smoothing ran is visible in the
   events; a "#% label-tracker:" line changes one label's events only.
2. --events on audio through a random fixture model (clar-mkmodel): a file
   naming a minimum duration of one day drops every event unless
   --event-min-duration is given; a file naming a median of 3 windows, with
   a threshold that makes one window an event of its own without smoothing,
   gives the events of that median (those of the run's own trace replayed
   with --event-smoothing median:3), --event-smoothing none those without;
   the same median in that label's "#% label-tracker:" line, the same."""
import json
import math
import os
import struct
import subprocess
import tempfile
import wave

from clar_testutil import BUILD, SKIP, Checks

check = Checks()

if not BUILD or not os.path.exists(os.path.join(BUILD, "tools", "clar-embed")):
    print("no clar-embed (run through meson test): skipped")
    raise SystemExit(SKIP)
embed = os.path.join(BUILD, "tools", "clar-embed")
mkmodel = os.path.join(BUILD, "tools", "clar-mkmodel")
NS, HOP = 1000000000, 500000000
tmp = tempfile.mkdtemp()


def write(name, text):
    path = os.path.join(tmp, name)
    with open(path, "wb") as fh:
        fh.write(text.encode() if isinstance(text, str) else text)
    return path


def run(*args, env=None):
    p = subprocess.run([embed, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env=env)
    return p.returncode, [json.loads(line) for line in p.stdout.splitlines()], p.stderr


# 1. The scripted trace.
lines = ["# clar-embed events trace 1", "labels\ta\tb", f"file\tscene.wav\t{HOP}"]
for i in range(20):
    a = 0.9 if i == 4 or 10 <= i <= 13 else 0.05
    lines.append(f"w\t{i}\t{i * HOP}\t{i * HOP + NS}\t{i * HOP}\t{i * HOP + NS}\t0.9\t"
                 f"{a:.9g}\t{1 - a:.9g}")
trace = write("trace.tsv", "\n".join(lines) + "\n")
median_th = write("median.tsv", "# chosen with a median of 3\n"
                  "#% tracker: smoothing=median:3 min-gap-ns=0 min-duration-ns=0\n"
                  "a\t0.5\t0.3\n")


def a_events(events):
    return [(e["start"], e["end"]) for e in events if e["label"] == "a"]


rc, none_ev, err = run("--events-replay", trace)
check("no file, no smoothing: the stray window is an event (2 events of a)",
      rc == 0 and len(a_events(none_ev)) == 2)
rc, med_ev, err = run("--events-replay", trace, "--event-smoothing", "median:3")
check("--event-smoothing median:3: the median erases it (1 event of a)",
      rc == 0 and len(a_events(med_ev)) == 1)
rc, ev, err = run("--events-replay", trace, "--event-thresholds", median_th)
check("only --event-thresholds: the file's median:3 applies", rc == 0 and ev == med_ev)
rc, ev, err = run("--events-replay", trace, "--event-thresholds", median_th,
                  "--event-smoothing", "none")
check("--event-smoothing none given: it wins over the file", rc == 0 and ev == none_ev)
# One option given, the others from the file: a minimum duration of 2.5 s
# (the run of four windows lasts 2 s) drops the event, --event-min-duration
# 0 brings it back, smoothed by the file's median (so one event, not two).
long_th = write("long.tsv", "#% tracker: smoothing=median:3 min-duration-ns=2500000000\n")
rc, ev, err = run("--events-replay", trace, "--event-thresholds", long_th)
check("the file's minimum duration drops the event", rc == 0 and a_events(ev) == [])
rc, ev, err = run("--events-replay", trace, "--event-thresholds", long_th,
                  "--event-min-duration", "0")
check("--event-min-duration 0 wins; the file's median still applies",
      rc == 0 and a_events(ev) == a_events(med_ev))
rc, ev, err = run("--events-replay", trace, "--event-thresholds",
                  write("plain.tsv", "# no directive\na\t0.5\t0.3\n"))
check("a file without the directive changes no option", rc == 0 and ev == none_ev)

# Options of one label ("#% label-tracker:"): the median for "a" alone
# gives a's events of the median and b's of no smoothing; an explicit
# --event-smoothing wins for every label. b scores 1 - a, so a median
# erases b's one-window dip (window 4) too: which smoothing b had shows.


def b_events(events):
    return [(e["start"], e["end"]) for e in events if e["label"] == "b"]


check("the trace: the median changes b's events too", b_events(med_ev) != b_events(none_ev))
a_med = write("a-median.tsv", "# a alone with a median of 3\n"
              "#% label-tracker: a smoothing=median:3 min-gap-ns=0 min-duration-ns=0\n")
rc, ev, err = run("--events-replay", trace, "--event-thresholds", a_med)
check("#% label-tracker: a smoothing=median:3: a's events of the median, b's without",
      rc == 0 and a_events(ev) == a_events(med_ev) and b_events(ev) == b_events(none_ev))
rc, ev, err = run("--events-replay", trace, "--event-thresholds", a_med,
                  "--event-smoothing", "none")
check("--event-smoothing none given: it wins over the label's line", rc == 0 and ev == none_ev)
b_none = write("b-none.tsv", "#% tracker: smoothing=median:3\n"
               "#% label-tracker: b smoothing=none\n")
rc, ev, err = run("--events-replay", trace, "--event-thresholds", b_none)
check("a median for all, none for b: a's events of the median, b's without",
      rc == 0 and a_events(ev) == a_events(med_ev) and b_events(ev) == b_events(none_ev))
rc, ev, err = run("--events-replay", trace, "--event-thresholds", b_none,
                  "--event-smoothing", "median:3")
check("--event-smoothing median:3 given: b's line does not apply", rc == 0 and ev == med_ev)

# Bad files: exit 2 (1 when unreadable) with the file and line, no events.
for what, text, want in [
        ("unknown key", "# x\n#% tracker: smoothing=median:3 gap=5\n",
         ":2: unknown tracker option \"gap\""),
        ("bad smoothing", "#% tracker: smoothing=mean:3\n", ":1: smoothing \"mean:3\""),
        ("duplicate key", "#% tracker: min-gap-ns=0\n#% tracker: min-gap-ns=0\n",
         ":2: tracker option \"min-gap-ns\" given twice"),
        ("duration out of range", "#% tracker: min-duration-ns=86400000000001\n",
         ":1: tracker option min-duration-ns: 86400000000001 ns is outside"),
        ("not UTF-8", b"#% tracker: smoothing=none \xe9\n", ":1: directive line is not valid UTF-8"),
        ("unknown directive", "#% tracking: smoothing=none\n", ":1: unknown directive"),
        ("unknown label", "#% label-tracker: c smoothing=none\n",
         ":1: no label \"c\" in this label set"),
        ("bad label option", "a\t0.5\n#% label-tracker: a smoothing=median:0\n",
         ":2: smoothing \"median:0\""),
        ("label twice", "#% label-tracker: a smoothing=none\n#% label-tracker: a min-gap-ns=0\n",
         ":2: label \"a\" has a label-tracker line already (line 1)")]:
    path = write("bad.tsv", text)
    rc, ev, err = run("--events-replay", trace, "--event-thresholds", path)
    check(f"{what}: exit 2, '{want}'", rc == 2 and f"{path}{want}" in err and not ev)
    if rc != 2 or want not in err:
        print(err)
rc, ev, err = run("--events-replay", trace, "--event-thresholds", os.path.join(tmp, "missing.tsv"))
check("missing file: exit 1", rc == 1 and "No such file" in err)

# 2. Audio through a fixture model.
model = os.path.join(tmp, "m.safetensors")
if subprocess.run([mkmodel, "--seed", "7", "--labels", "a;b;c", "-o", model]).returncode:
    print("FAIL clar-mkmodel")
    raise SystemExit(1)
audio = os.path.join(tmp, "tone.wav")
with wave.open(audio, "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(16000)
    w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * (300 + 200 * i / 16000)
                                                                  * i / 16000)))
                           for i in range(16000 * 4)))
# gst_init's GLib allocates memory it never frees, which LeakSanitizer would
# report at every exit of the sanitizer build's clar-embed (the replays
# above do not start GStreamer and keep the leak check).
env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
E = ["--model", model, "--events", "--event-on", "0", "--event-off", "0", "--event-active-db", "0"]
day = write("day.tsv", "#% tracker: min-duration-ns=86400000000000\n")
mtrace = os.path.join(tmp, "m-trace.tsv")
rc, ev, err = run(*E, "--events-trace", mtrace, audio, env=env)
check("audio, thresholds 0: one event per label", rc == 0 and sorted(e["label"] for e in ev)
      == ["a", "b", "c"])
rc, ev, err = run(*E, "--event-thresholds", day, audio, env=env)
check("audio, the file's minimum duration of one day: no event", rc == 0 and ev == [])
rc, ev, err = run(*E, "--event-thresholds", day, "--event-min-duration", "0", audio, env=env)
check("audio, --event-min-duration 0 wins: the events are back", rc == 0 and len(ev) == 3)

# The smoothing on audio: a window whose score of a label is above both
# its neighbours' is an event of its own at a threshold between them
# without smoothing, and none with a median of 3 windows. The fixture's
# scores (read from the run's trace) are random: take the window and label
# where that margin is widest, threshold it, and switch the other labels
# off (on 1 is never reached by a softmax of 3 labels).
names, scores = None, []
for line in open(mtrace):
    f = line.rstrip("\n").split("\t")
    if f[0] == "labels":
        names = f[1:]
    elif f[0] == "w":
        scores.append([float(x) for x in f[7:]])
margin, i, k = max((scores[i][k] - max(scores[i - 1][k], scores[i + 1][k]), i, k)
                   for i in range(1, len(scores) - 1) for k in range(len(names)))
check(f"audio: a window above its neighbours (window {i}, {names[k]}, by {margin:.4f})",
      margin > 1e-3)
t = scores[i][k] - margin / 2
th = write("m.tsv", "#% tracker: smoothing=median:3\n" + "".join(
    f"{n}\t{t:.6f}\n" if j == k else f"{n}\t1\n" for j, n in enumerate(names)))
E = ["--model", model, "--events", "--event-active-db", "0"]
rc, r_med, err = run("--events-replay", mtrace, "--event-thresholds", th, "--event-smoothing",
                     "median:3")
rc2, r_none, err2 = run("--events-replay", mtrace, "--event-thresholds", th, "--event-smoothing",
                        "none")
check("audio: the median changes the events of that label",
      rc == 0 and rc2 == 0 and r_med != r_none
      and any(e["first_window"] <= i <= e["last_window"] for e in r_none)
      and not any(e["first_window"] <= i <= e["last_window"] for e in r_med))
rc, ev, err = run(*E, "--event-thresholds", th, audio, env=env)
check("audio, only --event-thresholds: the events of the file's median", rc == 0 and ev == r_med)
rc, ev, err = run(*E, "--event-thresholds", th, "--event-smoothing", "none", audio, env=env)
check("audio, --event-smoothing none given: it wins", rc == 0 and ev == r_none)
rc, ev, err = run(*E, "--event-thresholds", write("bad.tsv", "#% tracker: smoothing=fast\n"),
                  audio, env=env)
check("audio, a bad directive: exit 2 naming the line", rc == 2 and "bad.tsv:1: smoothing" in err)
# The median in that label's own line: the same events.
th_label = write("m-label.tsv", f"#% label-tracker: {names[k]} smoothing=median:3\n" + "".join(
    f"{n}\t{t:.6f}\n" if j == k else f"{n}\t1\n" for j, n in enumerate(names)))
rc, ev, err = run(*E, "--event-thresholds", th_label, audio, env=env)
check("audio, the label's own median (#% label-tracker:)", rc == 0 and ev == r_med)
rc, ev, err = run(*E, "--event-thresholds", th_label, "--event-smoothing", "none", audio, env=env)
check("audio, --event-smoothing none given: it wins over the label's line",
      rc == 0 and ev == r_none)
rc, ev, err = run(*E, "--event-thresholds", write("bad.tsv", "#% label-tracker: nope\n"), audio,
                  env=env)
check("audio, a bad label-tracker line: exit 2 naming the line",
      rc == 2 and "bad.tsv:1: no label \"nope\"" in err)
check.exit()
