#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Sound events end to end with the shipped model (issue 13), the small
# version of tools/events/evaluate.sh: four generated scenes (pink noise,
# words by espeak-ng training voices and fluidsynth notes of training GM
# programs at 20 dB SNR); clar-embed --events must find the events (event
# F1 >= 0.6 and segment F1 >= 0.8 on these easy classes; the full run in
# models/README.md is harder), and `gst-launch-1.0 -m ... clarembed` must post
# clarembed-event messages with the same start and end times, each reference
# event of the first scene matched within the DCASE collars.
# Skips (77) without the trained model, espeak-ng, fluidsynth or sox.
set -u
: "${CLAR_BUILD_ROOT:?run through meson test}"
model=$CLAR_SOURCE_ROOT/models/clar-default.safetensors
embed=$CLAR_BUILD_ROOT/tools/clar-embed
ev=$CLAR_SOURCE_ROOT/tools/events
[ -f "$model" ] || { echo "no trained model in models/: skipped"; exit 77; }
for t in espeak-ng fluidsynth sox gst-launch-1.0; do
  command -v $t >/dev/null || { echo "no $t: skipped"; exit 77; }
done
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || { echo "no FluidR3_GM.sf2: skipped"; exit 77; }
export GST_PLUGIN_PATH=$CLAR_BUILD_ROOT/plugin
export GST_REGISTRY_1_0=$CLAR_BUILD_ROOT/tests/registry-events-scenes.bin
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
check () { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails+1)); fi; }
# The generators are not ours: they run without the sanitizer runtime that
# the ASan pass of the test command preloads (espeak-ng hangs under it).
py () { env -u LD_PRELOAD /usr/bin/python3 "$@"; }

py "$ev/make_scenes.py" --out "$tmp/scenes" --generate "$tmp/clips" --per-class 2 \
  --classes seven,yes,stop,left,two,flute,organ --model "$model" --scenes 4 --duration 12 \
  --events 2:3 --snr 20 --seed 5 || { echo "FAIL scene generator"; exit 1; }
check "4 scenes and a reference" "[ \$(wc -l < '$tmp/scenes/scenes.txt') = 4 ] && [ \$(wc -l < '$tmp/scenes/reference.tsv') -ge 9 ]"

"$embed" --model "$model" --events --events-trace "$tmp/trace.tsv" $(cat "$tmp/scenes/scenes.txt") \
  > "$tmp/events.jsonl"
check "clar-embed --events exits 0" "[ $? -eq 0 ]"
# The trace replayed through the tracker (what calibrate.sh does): the very
# same events, without the encoder.
"$embed" --events-replay "$tmp/trace.tsv" > "$tmp/replay.jsonl"
check "--events-replay of the trace = the events of the run" "cmp -s '$tmp/events.jsonl' '$tmp/replay.jsonl'"
# The calibrated thresholds shipped with the model load with it.
th=$CLAR_SOURCE_ROOT/models/clar-default.events.tsv
if [ -f "$th" ]; then
  opts=$(sed -n 's/^# Chosen with these tracker options, which go with this file: //p' "$th")
  # shellcheck disable=SC2086
  "$embed" --events-replay "$tmp/trace.tsv" $opts --event-thresholds "$th" > "$tmp/cal.jsonl"
  check "models/clar-default.events.tsv fits the model's labels" "[ $? -eq 0 ]"
fi
py "$ev/sed_metrics.py" "$tmp/scenes/reference.tsv" "$tmp/events.jsonl" --ignore silence,noise \
  --json "$tmp/metrics.json"
check "scored" "[ -s '$tmp/metrics.json' ]"
check "event F1 >= 0.6, segment F1 >= 0.8" "py -c '
import json, sys
m = json.load(open(sys.argv[1]))
e, s = m[\"event\"][\"micro\"][\"f1\"], m[\"segment\"][\"micro\"][\"f1\"]
print(f\"event F1 {e:.3f}, segment F1 {s:.3f}\")
sys.exit(0 if e >= 0.6 and s >= 0.8 else 1)' '$tmp/metrics.json'"

# calibrate.sh end to end, tiny: calibration scenes of seed 1 from clip 1 of
# each class, test scenes of seed 2 from clip 0 (both rendered above).
env -u LD_PRELOAD "$ev/calibrate.sh" "$CLAR_BUILD_ROOT" "$model" "$tmp/cal" --scenes 2 \
  --per-class 1 --clips "$tmp/clips" -- --classes seven,yes,flute --duration 8 --events 2:2 \
  --snr 20 > "$tmp/cal.log" 2>&1
check "calibrate.sh exits 0" "[ $? -eq 0 ] || { cat '$tmp/cal.log'; false; }"
check "calibrate.sh: per-class report of the test scenes" \
  "grep -q '^micro, acc>=0.9' '$tmp/cal/test/report-calibrated.txt' && grep -q '^seven ' '$tmp/cal/test/report-calibrated.txt'"
check "calibrate.sh: its thresholds load" \
  "'$embed' --events-replay '$tmp/cal/test/trace.tsv' --event-thresholds '$tmp/cal/thresholds.tsv' > /dev/null"
env -u LD_PRELOAD "$ev/calibrate.sh" "$CLAR_BUILD_ROOT" "$model" "$tmp/cal2" --cal-seed 3 \
  --test-seed 3 > /dev/null 2>&1
check "calibrate.sh refuses one seed for both" "[ $? -eq 2 ]"

# The element on the first scene: the same events as clar-embed (one
# libclar tracker), at the reference's times.
scene=$(head -1 "$tmp/scenes/scenes.txt")
gst-launch-1.0 -m filesrc location="$scene" ! decodebin ! audioconvert ! audioresample ! \
  clarembed model-location="$model" post-messages=false ! fakesink > "$tmp/launch.txt" 2>&1
check "gst-launch exits 0" "[ $? -eq 0 ]"
check "clarembed-event messages" "grep -q 'clarembed-event, kind=(string)start' '$tmp/launch.txt' && grep -q 'clarembed-event, kind=(string)end' '$tmp/launch.txt'"
cat > "$tmp/compare.py" <<'EOF'
import json, re, sys
launch, events, ref, name = sys.argv[1:]
el = []
for line in open(launch):
    if "clarembed-event, kind=(string)end" not in line:
        continue
    lab = re.search(r'label=\(string\)("[^"]*"|[^,]*)', line).group(1).strip('"')
    ts = int(re.search(r" timestamp=\(guint64\)(\d+)", line).group(1))
    dur = int(re.search(r"duration=\(guint64\)(\d+)", line).group(1))
    el.append((lab, round(ts / 1e9, 3), round((ts + dur) / 1e9, 3)))
cli = [(d["label"], d["start"], d["end"]) for d in map(json.loads, open(events))
       if d["file"].endswith(name)]
print("element:", el)
print("clar-embed:", cli)
ok = sorted(el) == sorted(cli)
for r in [l.rstrip("\n").split("\t") for l in open(ref)][1:]:
    if r[0] != name:
        continue
    on, off, lab = float(r[1]), float(r[2]), r[3]
    hit = [e for e in el if e[0] == lab and abs(e[1] - on) <= 0.25
           and abs(e[2] - off) <= max(0.25, 0.2 * (off - on))]
    print(f"reference {lab} {on:.2f}-{off:.2f}:", hit or "MISSED")
    ok = ok and bool(hit)
sys.exit(0 if ok else 1)
EOF
check "element events = clar-embed events; each reference event found" \
  "py '$tmp/compare.py' '$tmp/launch.txt' '$tmp/events.jsonl' '$tmp/scenes/reference.tsv' '$(basename "$scene")'"
echo "$fails failed"
[ $fails -eq 0 ]
