#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Per-label sound-event thresholds for a model, chosen on calibration scenes
# and scored on other scenes (models/README.md, "Sound events"):
#
#  1. calibration scenes (make_scenes.py, seed --cal-seed, clips numbered
#     --per-class .. 2 x --per-class - 1 of each class) through clar-embed
#     --events --events-trace: the windows the tracker is fed, once;
#  2. calibrate.py: smoothing / minimum gap / minimum duration and then
#     per-label on/off thresholds, tried by clar-embed --events-replay over
#     those windows, written to OUT/thresholds.tsv (the per-label threshold
#     file of clarembed event-thresholds-location and clar-embed
#     --event-thresholds; its comments name the options that go with it,
#     and its "#% tracker:" line makes clarembed and clar-embed use them
#     unless told otherwise). The thresholds are one pair for all labels,
#     a pair per domain (words, instruments, effects), a pair and tracker
#     options per domain ("#% label-tracker:" lines) or a pair per label,
#     whichever wins calibrate.py's cross-validation on the calibration
#     scenes (--structures limits the choice, e.g. --structures global);
#  3. test scenes (seed --test-seed, clips 0 .. --per-class - 1: other
#     scenes, other clips) through evaluate.sh with the default settings
#     -> OUT/test/report.txt, and the same test windows replayed with the
#     calibrated file alone (its directives name the options, as clarembed
#     reads them) -> OUT/test/report-calibrated.txt (both from one encoder
#     run).
#
# Nothing is chosen on the test scenes. The scenes depend on the seeds and
# clips, not on the model (make_scenes.py keeps them when rerun with the same
# options), so rerunning for a new model costs the model's runs only.
#
#   tools/events/calibrate.sh BUILD MODEL OUT [--cal-seed 1] [--test-seed 2]
#       [--scenes 40] [--per-class 4] [--clips DIR] [--hop SEC] [--install FILE]
#       [--structures global,domain,domain-tracker,label]
#       [-- make_scenes.py options for both scene sets, e.g. --snr 10,20]
#
# --hop runs the model at another hop than its own (clar-embed --hop;
# clarembed hop-size): the thresholds then hold for that hop. --install
# copies the threshold file to FILE (e.g.
# models/clar-default.events.tsv). The report's "head acc" is evaluate.sh's:
# the share of a class's clips (alone, padded with 1 s of silence) whose
# first window's top label is the class.
set -eu
if [ $# -lt 3 ]; then
  sed -n '2,/^set/p' "$0" | sed 's/^# \{0,1\}//; /^set/d' >&2
  exit 2
fi
build=$1 model=$2 out=$3
shift 3
cal_seed=1 test_seed=2 scenes=40 per_class=4 clips= install= hop=() structures=global,domain,domain-tracker,label
while [ $# -gt 0 ]; do
  case $1 in
    --cal-seed) cal_seed=$2 ;;
    --test-seed) test_seed=$2 ;;
    --scenes) scenes=$2 ;;
    --per-class) per_class=$2 ;;
    --clips) clips=$2 ;;
    --install) install=$2 ;;
    --hop) hop=(--hop "$2") ;;
    --structures) structures=$2 ;;
    --) shift; break ;;
    *) echo "calibrate.sh: unknown option $1" >&2; exit 2 ;;
  esac
  [ $# -ge 2 ] || { echo "calibrate.sh: $1 needs a value" >&2; exit 2; }
  shift 2
done
if [ "$cal_seed" = "$test_seed" ]; then
  echo "calibrate.sh: the calibration and test seeds must differ" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
embed=$build/tools/clar-embed
clips=${clips:-$out/clips}
mkdir -p "$out/calibration"

python3 "$here/make_scenes.py" --out "$out/calibration/scenes" --model "$model" \
  --generate "$clips" --per-class "$per_class" --first-clip "$per_class" \
  --scenes "$scenes" --seed "$cal_seed" "$@"
mapfile -t cal_scenes < "$out/calibration/scenes/scenes.txt"
"$embed" --model "$model" "${hop[@]}" --events --events-trace "$out/calibration/trace.tsv" \
  "${cal_scenes[@]}" > "$out/calibration/events-defaults.jsonl"
md5=$(md5sum "$model" | cut -c1-12)
python3 "$here/calibrate.py" "$out/calibration/trace.tsv" \
  "$out/calibration/scenes/reference.tsv" --embed "$embed" --out "$out/thresholds.tsv" \
  --json "$out/calibration.json" --structures "$structures" \
  --note "Model $(basename "$model") (md5 $md5...)${hop:+, hop ${hop[1]} s}; $scenes calibration scenes of seed $cal_seed,
clips $per_class..$((2 * per_class - 1)) of each class (tools/events/calibrate.sh)."
opts=$(python3 -c 'import json, sys; print(" ".join(json.load(open(sys.argv[1]))["options"]))' \
  "$out/calibration.json")

# The test scenes with the default settings (evaluate.sh records the
# windows), then the same windows replayed with the calibrated file.
CLAR_EMBED_ARGS="${hop[*]}" "$here/evaluate.sh" "$build" "$model" "$out/test" --generate "$clips" \
  --per-class "$per_class" --scenes "$scenes" --seed "$test_seed" "$@" > /dev/null
t=$out/test
"$embed" --events-replay "$t/trace.tsv" --event-thresholds "$out/thresholds.tsv" \
  > "$t/events-calibrated.jsonl"
python3 "$here/sed_metrics.py" "$t/scenes/reference.tsv" "$t/events-calibrated.jsonl" \
  --ignore silence,noise --json "$t/metrics-calibrated.json" > "$t/metrics-calibrated.txt"
python3 "$here/report.py" "$t/metrics-calibrated.json" "$t/scenes/reference.tsv" \
  "$t/clips.tsv" "$t/clip-windows.jsonl" > "$t/report-calibrated.txt"
if [ -n "$install" ]; then
  cp "$out/thresholds.tsv" "$install"
fi
echo "== $(basename "$model") (md5 $md5...): calibrated on seed $cal_seed, tested on seed $test_seed"
echo "== calibration: $opts, thresholds $out/thresholds.tsv${install:+ (installed as $install)}"
echo "== test scenes, calibrated thresholds ($t/report-calibrated.txt):"
cat "$t/report-calibrated.txt"
echo "== test scenes, default settings ($t/report.txt):"
head -1 "$t/report.txt"; tail -3 "$t/report.txt"
