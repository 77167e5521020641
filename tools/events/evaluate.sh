#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Sound-event evaluation on generated scenes (models/README.md, "Sound
# events"): make_scenes.py writes scenes of training-split clips over noise
# with a reference annotation, clar-embed --events detects events in them,
# sed_metrics.py scores event-based and segment-based F1 (sed_eval/DCASE:
# 250 ms onset collar, offset collar max(250 ms, 20%), 1 s segments), per
# class and micro/macro averaged. Background labels (silence, noise) in the
# output are left out of the scoring.
#
#   tools/events/evaluate.sh BUILD MODEL OUT [make_scenes.py options...]
#
# e.g. tools/events/evaluate.sh _build models/clar-default.safetensors \
#        /tmp/ev --generate /tmp/ev/clips --scenes 40 --seed 2
# CLAR_EMBED_ARGS adds clar-embed options (e.g. "--hop 0.25
# --event-smoothing median:3"). Writes OUT/scenes/, OUT/events.jsonl,
# OUT/trace.tsv (the windows the tracker was fed: clar-embed --events-replay
# tries other settings on them), OUT/metrics.txt and OUT/metrics.json, and
# OUT/report.txt (report.py: each class's window head accuracy on its clips
# beside its F1, and the F1 of the classes the head gets right at least 90%
# of the time). Calibrated per-label thresholds: calibrate.sh.
set -eu
if [ $# -lt 3 ]; then
  sed -n '2,/^set/p' "$0" | sed 's/^# \{0,1\}//; /^set/d' >&2
  exit 2
fi
build=$1 model=$2 out=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
python3 "$here/make_scenes.py" --out "$out/scenes" --model "$model" "$@"
mapfile -t scenes < "$out/scenes/scenes.txt"
# shellcheck disable=SC2086
"$build/tools/clar-embed" --model "$model" --events ${CLAR_EMBED_ARGS:-} \
  --events-trace "$out/trace.tsv" "${scenes[@]}" > "$out/events.jsonl"
python3 "$here/sed_metrics.py" "$out/scenes/reference.tsv" "$out/events.jsonl" \
  --ignore silence,noise --json "$out/metrics.json" > "$out/metrics.txt"
# The clips alone, for the head's window accuracy per class: each padded
# with 1 s of silence so that a word shorter than half a window still makes
# a window; the label of its first window counts.
mkdir -p "$out/clips"
: > "$out/clips.tsv"
i=0
while IFS= read -r c; do
  sox -q "$c" -r 16000 -c 1 -b 16 "$out/clips/$i.wav" pad 0 1
  printf '%s\t%s\n' "$c" "$out/clips/$i.wav" >> "$out/clips.tsv"
  i=$((i + 1))
done < <(tail -n +2 "$out/scenes/reference.tsv" | cut -f6 | sort -u)
mapfile -t clips < <(cut -f2 "$out/clips.tsv")
"$build/tools/clar-embed" --model "$model" --top-k 1 "${clips[@]}" > "$out/clip-windows.jsonl"
python3 "$here/report.py" "$out/metrics.json" "$out/scenes/reference.tsv" \
  "$out/clips.tsv" "$out/clip-windows.jsonl" | tee "$out/report.txt"
