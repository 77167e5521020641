#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The shipped model says something true: generated clips it never trained on
# get the right label from clar-embed in their first window (where the word
# or the note is; later windows hold the note's release and silence):
# the word "seven" by an espeak-ng voice held out of training; fluidsynth
# notes at a pitch and velocity not rendered for training, with fluidsynth's
# default gain and reverb: a flute (GM program 73, a training program), a
# piccolo (program 72, a flute-family program held out of training) and a
# piano (program 0); and pink noise.
# Skips (77) while models/ holds no trained model.
set -u
: "${CLAR_BUILD_ROOT:?run through meson test}"
model=$CLAR_SOURCE_ROOT/models/clar-default.safetensors
embed=$CLAR_BUILD_ROOT/tools/clar-embed
[ -f "$model" ] || { echo "no trained model in models/: skipped"; exit 77; }
for t in espeak-ng fluidsynth sox; do command -v $t >/dev/null || { echo "no $t: skipped"; exit 77; }; done
sf2=/usr/share/sounds/sf2/FluidR3_GM.sf2
[ -f $sf2 ] || { echo "no $sf2: skipped"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# Clip generators are not ours: they run without the sanitizer runtime that
# the ASan pass of the test command preloads (espeak-ng hangs under it).
gen () { env -u LD_PRELOAD "$@"; }
fails=0
gen espeak-ng -v en-gb-scotland -w "$tmp/seven.wav" seven
note () {   # name program pitch
  gen /usr/bin/python3 "$CLAR_SOURCE_ROOT/tools/data/midi.py" "$tmp/$1.mid" $2 $3 100 1.5
  gen fluidsynth -q -ni -F "$tmp/$1.wav" -r 16000 $sf2 "$tmp/$1.mid" >/dev/null 2>&1
}
note flute 73 70
note piccolo 72 76
note piano 0 61
gen sox -n -r 16000 -c 1 "$tmp/noise.wav" synth 2.0 pinknoise vol 0.3
for pair in seven:seven flute:flute piccolo:flute piano:keyboard noise:noise; do
  clip=${pair%%:*}; want=${pair##*:}
  got=$("$embed" --model "$model" --top-k 100 "$tmp/$clip.wav" | /usr/bin/python3 -c '
import json, sys
first = json.loads(sys.stdin.readline())
best = [(l["name"], l["score"]) for l in first["labels"][:3]]
print(" ".join(f"{n}:{s:.2f}" for n, s in best))')
  echo "$clip: $got"
  if [ "${got%%:*}" = "$want" ]; then echo "ok   $clip -> $want"; else echo "FAIL $clip (want $want)"; fails=$((fails+1)); fi
done
echo "$fails failed"
[ $fails -eq 0 ]
