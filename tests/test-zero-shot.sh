#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The shipped model's text tower says something true: clarembed with text
# prompts (labels property) labels clips generated here, never seen in
# training, with the right prompt in their first window: the word "seven"
# (espeak-ng en-gb-scotland), "yes" (en-us+f3), pink noise (sox) and a
# fluidsynth flute note. Skips (77) without the tools or a text tower.
set -u
: "${CLAR_BUILD_ROOT:?run through meson test}"
model=$CLAR_SOURCE_ROOT/models/clar-default.safetensors
export GST_PLUGIN_PATH=$CLAR_BUILD_ROOT/plugin
export GST_REGISTRY_1_0=$CLAR_BUILD_ROOT/tests/registry-zero-shot.bin
[ -f "$model" ] || { echo "no trained model in models/: skipped"; exit 77; }
for t in gst-launch-1.0 espeak-ng fluidsynth sox; do
  command -v $t >/dev/null || { echo "no $t: skipped"; exit 77; }
done
sf2=/usr/share/sounds/sf2/FluidR3_GM.sf2
[ -f $sf2 ] || { echo "no $sf2: skipped"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# Clip generators are not ours: they run without the sanitizer runtime that
# the ASan pass of the test command preloads (espeak-ng hangs under it).
gen () { env -u LD_PRELOAD "$@"; }
gen espeak-ng -v en-gb-scotland -w "$tmp/seven.wav" seven
gen espeak-ng -v en-us+f3 -w "$tmp/yes.wav" yes
gen sox -n -r 16000 -c 1 "$tmp/noise.wav" synth 2.0 pinknoise vol 0.3
gen /usr/bin/python3 "$CLAR_SOURCE_ROOT/tools/data/midi.py" "$tmp/flute.mid" 73 70 100 1.5
gen fluidsynth -q -ni -F "$tmp/flute.wav" -r 16000 $sf2 "$tmp/flute.mid" >/dev/null 2>&1
prompts='the word seven;the word yes;the word no;a flute note;a guitar note;noise;silence;a dog barking;footsteps'
fails=0
for pair in "seven:the word seven" "yes:the word yes" "noise:noise" "flute:a flute note"; do
  clip=${pair%%:*}; want=${pair#*:}
  out=$(gst-launch-1.0 -m filesrc location="$tmp/$clip.wav" ! decodebin ! audioconvert ! \
    audioresample ! clarembed model-location="$model" message-embedding=false top-k=2 \
    labels="$prompts" ! fakesink 2>&1)
  if echo "$out" | grep -q "text tower"; then echo "the shipped model has no text tower: skipped"; exit 77; fi
  # First window's labels, e.g. labels=(string)< "the\ word\ seven", noise >.
  got=$(echo "$out" | grep -o 'labels=(string)< [^>]*>' | head -1 \
    | sed -e 's/^labels=(string)< //' -e 's/\\ / /g' -e 's/"//g' | cut -d, -f1 | sed 's/ *$//')
  if [ "$got" = "$want" ]; then echo "ok   $clip -> $got"; else echo "FAIL $clip -> '$got' (want '$want')"; fails=$((fails+1)); fi
done
exit $((fails > 0))
