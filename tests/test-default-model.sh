#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The shipped model says something true about sound from sources it never
# trained on (the data builder's source-disjoint "val" sources): clar-embed's
# first window of each clip must carry the right label.
#   - words by flite, a speech engine none of the training words came from
#     ("seven", "five", "stop", each by the five flite voices, majority);
#   - notes rendered by timidity from freepats, a sample set and renderer
#     never used for training: a flute (GM program 73), a violin (40,
#     string), a trumpet (56, brass) and a clarinet (71, reed), each at five
#     pitches over its usual range (fixed by the instrument, not by a
#     model), velocity 100, 1.5 s; an instrument passes when the first
#     window of a majority (3 of 5) of its notes carries its family. One
#     note per instrument proved to be luck: an earlier default model
#     passed the trumpet at pitch 67 and took 3 of the 5 trumpet pitches
#     here for reed.
#   - pink noise; near-silence as whole clips (zeros, dither, -60 dBFS).
# The violin was a known miss of the defaults until 2026-12-03 (taken for
# brass or reed at 4 of 5 pitches); the last two defaults get it (3 and 4
# of 5), so it counts. Known misses of this model on such clips, left out
# here and reported in models/README.md: "two" by flite and freepats
# pianos (keyboard ties with organ and guitar).
# Skips (77) while models/ holds no trained model or a generator is missing.
# CLAR_DEFAULT_MODEL=FILE runs the same checks on another model (e.g. one
# from the PyTorch trainer, README "Training on many machines"):
#   CLAR_BUILD_ROOT=_build CLAR_SOURCE_ROOT=. CLAR_DEFAULT_MODEL=run-torch/model.safetensors \
#     tests/test-default-model.sh
set -u
: "${CLAR_BUILD_ROOT:?run through meson test}"
model=${CLAR_DEFAULT_MODEL:-$CLAR_SOURCE_ROOT/models/clar-default.safetensors}
embed=$CLAR_BUILD_ROOT/tools/clar-embed
if [ -n "${CLAR_DEFAULT_MODEL:-}" ] && [ ! -f "$model" ]; then
  echo "FAIL CLAR_DEFAULT_MODEL=$model: no such file"; exit 1
fi
[ -f "$model" ] || { echo "no trained model in models/: skipped"; exit 77; }
for t in flite timidity sox; do command -v $t >/dev/null || { echo "no $t: skipped"; exit 77; }; done
cfg=/etc/timidity/freepats.cfg
[ -f $cfg ] || { echo "no freepats: skipped"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# Clip generators are not ours: they run without the sanitizer runtime that
# the ASan pass of the test command preloads.
gen () { env -u LD_PRELOAD "$@"; }
fails=0
# Each word by all five flite voices; the check is per word, a majority of
# the voices (3 of 5): one voice may be a miss (slt's "seven" is taken for
# synth_lead by the 2026-12-01 model), a word most voices miss fails.
voices="kal kal16 awb rms slt"
for w in seven five stop; do
  for v in $voices; do gen flite -voice $v -t $w -o "$tmp/$w-$v.wav"; done
done
note () {   # name program pitch
  gen /usr/bin/python3 "$CLAR_SOURCE_ROOT/tools/data/midi.py" "$tmp/$1.mid" $2 $3 100 1.5
  gen timidity -c $cfg -Ow -s 16000 --output-mono -o "$tmp/$1.wav" "$tmp/$1.mid" >/dev/null 2>&1
}
# name:program:family:known-miss(1/0):pitches
instruments="flute:73:flute:0:72 76 79 84 88
violin:40:string:0:55 62 67 72 79
trumpet:56:brass:0:58 62 67 70 74
clarinet:71:reed:0:52 57 62 67 72"
while IFS=: read -r name prog fam miss pitches; do
  for p in $pitches; do note "$name-$p" "$prog" "$p"; done
done <<< "$instruments"
gen sox -n -r 16000 -c 1 "$tmp/noise.wav" synth 2.0 pinknoise vol 0.3
top1 () {   # [clar-embed options] clip: the first window's (--clip: the clip's) three best labels
  "$embed" --model "$model" --top-k 100 "$@" | /usr/bin/python3 -c '
import json, sys
first = json.loads(sys.stdin.readline())
best = [(l["name"], l["score"]) for l in first["labels"][:3]]
print(" ".join(f"{n}:{s:.2f}" for n, s in best))'
}
# majority NAME WANT MISS UNIT TAG:CLIP...: the first window of at least 3
# of the clips must carry WANT; with MISS=1 a failure is a known miss.
majority () {
  local name=$1 want=$2 miss=$3 unit=$4 right=0 got tc
  shift 4
  for tc in "$@"; do
    got=$(top1 "${tc#*:}"); echo "$name ${tc%%:*}: $got"
    [ "${got%%:*}" = "$want" ] && right=$((right+1))
  done
  if [ $right -ge 3 ]; then echo "ok   $name -> $want ($right of $# $unit)"
  elif [ "$miss" = 1 ]; then echo "known miss: $name -> $want ($right of $# $unit; not counted)"
  else echo "FAIL $name ($right of $# $unit, want $want)"; fails=$((fails+1)); fi
}
for w in seven five stop; do
  clips=()
  for v in $voices; do clips+=("by $v:$tmp/$w-$v.wav"); done
  majority "$w" "$w" 0 voices "${clips[@]}"
done
while IFS=: read -r name prog fam miss pitches; do
  clips=()
  for p in $pitches; do clips+=("at $p:$tmp/$name-$p.wav"); done
  majority "$name" "$fam" "$miss" pitches "${clips[@]}"
done <<< "$instruments"
got=$(top1 "$tmp/noise.wav")
echo "noise: $got"
if [ "${got%%:*}" = noise ]; then echo "ok   noise -> noise"; else echo "FAIL noise"; fails=$((fails+1)); fi
# Silence as a whole clip (clar-embed --clip embeds every window, as
# clar-eval does; the element and clar-embed's windows call windows under
# min-rms silent without the encoder): digital zeros, +-1 LSB of dither
# and pink noise at -60 dBFS. A label-row change once took near-silence
# for bass (models/README.md, "Choosing (2026-12-06, night)").
gen sox -R -n -r 16000 -c 1 -b 16 "$tmp/zeros.wav" trim 0 2
gen sox -R -n -r 16000 -c 1 -b 16 "$tmp/dither.wav" synth 2 whitenoise vol 0.00005
gen sox -R -n -r 16000 -c 1 -b 16 "$tmp/quiet.wav" synth 2 pinknoise vol 0.001
for c in zeros dither quiet; do
  got=$(top1 --clip "$tmp/$c.wav"); echo "$c (clip): $got"
  if [ "${got%%:*}" = silence ]; then echo "ok   $c (clip) -> silence"
  else echo "FAIL $c (clip) -> ${got%%:*}, want silence"; fails=$((fails+1)); fi
done
echo "$fails failed"
[ $fails -eq 0 ]
