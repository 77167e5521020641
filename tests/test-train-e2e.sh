#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# clar-train end to end on tiny data made here (two classes: tones and noise):
# the loss falls, a seeded run is reproducible, a resumed run ends exactly
# where an uninterrupted one does, and the exported model runs in clarembed
# and clar-eval. Needs sox (skips with 77 otherwise).
set -u
: "${CLAR_BUILD_ROOT:?run through meson test}"
train=$CLAR_BUILD_ROOT/tools/clar-train
evalp=$CLAR_BUILD_ROOT/tools/clar-eval
command -v sox >/dev/null || { echo "no sox: skipped"; exit 77; }
export GST_PLUGIN_PATH=$CLAR_BUILD_ROOT/plugin
export GST_REGISTRY_1_0=$CLAR_BUILD_ROOT/tests/registry-train.bin
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
check () { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails+1)); fi; }

mkdir -p "$tmp/data/tone" "$tmp/data/noise"
printf 'path\tlabel\tsplit\n' > "$tmp/data/manifest.tsv"
for i in $(seq 1 12); do
  sox -n -r 16000 -c 1 "$tmp/data/tone/t$i.wav" synth 1.2 sine $((200 + i * 40)) vol 0.5
  sox -n -r 16000 -c 1 "$tmp/data/noise/n$i.wav" synth 1.2 whitenoise vol 0.3
  s=train; [ $i -gt 9 ] && s=val
  printf 'tone/t%d.wav\ttone\t%s\nnoise/n%d.wav\tnoise\t%s\n' $i $s $i $s >> "$tmp/data/manifest.tsv"
done
args=(--data "$tmp/data/manifest.tsv" --steps 30 --batch-size 8 --warmup 5 --lr 3e-3 --checkpoint-every 10)

"$train" "${args[@]}" --out "$tmp/a" 2> "$tmp/a.log"
check "clar-train exits 0" "[ $? -eq 0 ]"
check "progress line printed" "grep -q 'step 30/30 loss' '$tmp/a.log'"
first=$(awk -F'\t' 'NR>=2 && NR<=6 {s+=$4} END {print s/5}' "$tmp/a/train-log.tsv")
last=$(awk -F'\t' 'NR>=27 && NR<=31 {s+=$4} END {print s/5}' "$tmp/a/train-log.tsv")
echo "loss: first 5 steps $first, last 5 steps $last"
check "loss falls by 25%" "awk 'BEGIN {exit !($last < 0.75 * $first)}'"

"$train" "${args[@]}" --out "$tmp/b" 2>/dev/null
check "seeded rerun is identical" "cmp -s '$tmp/a/checkpoint.safetensors' '$tmp/b/checkpoint.safetensors'"
"$train" "${args[@]}" --out "$tmp/c" --max-minutes 0.0001 2>/dev/null
"$train" "${args[@]}" --out "$tmp/c" --resume 2> "$tmp/c.log"
check "resume announced" "grep -q 'resumed at step' '$tmp/c.log'"
check "resumed run ends identical" "cmp -s '$tmp/a/checkpoint.safetensors' '$tmp/c/checkpoint.safetensors'"

gst-launch-1.0 -m filesrc location="$tmp/data/tone/t1.wav" ! decodebin ! audioconvert ! \
  audioresample ! clarembed model-location="$tmp/a/model.safetensors" ! fakesink > "$tmp/g.txt" 2>&1
check "exported model runs in clarembed" "grep -q 'labels=(string)<' '$tmp/g.txt'"
check "its labels are the classes" "grep 'labels=(string)<' '$tmp/g.txt' | grep -q 'tone'"

if [ -x "$evalp" ]; then
  "$evalp" --model "$tmp/a/model.safetensors" --data "$tmp/data/manifest.tsv" > "$tmp/e.txt" 2>&1
  check "clar-eval exits 0" "[ $? -eq 0 ]"
  cat "$tmp/e.txt"
  check "clar-eval: k-NN accuracy on val >= 0.8" "awk '/^knn1/ {exit !(\$2 >= 0.8)}' '$tmp/e.txt'"
fi
# The residual depthwise-separable encoder: a few steps, a model the
# element runs, and a resume that refuses another architecture's checkpoint.
"$train" --data "$tmp/data/manifest.tsv" --arch dsres --steps 3 --batch-size 4 --warmup 1 \
  --checkpoint-every 3 --out "$tmp/ds" 2> "$tmp/ds.log"
check "clar-train --arch dsres exits 0" "[ $? -eq 0 ]"
gst-launch-1.0 -m filesrc location="$tmp/data/tone/t1.wav" ! decodebin ! audioconvert ! \
  audioresample ! clarembed model-location="$tmp/ds/model.safetensors" ! fakesink > "$tmp/gd.txt" 2>&1
check "exported dsres model runs in clarembed" "grep -q 'labels=(string)<' '$tmp/gd.txt'"
"$train" --data "$tmp/data/manifest.tsv" --steps 6 --batch-size 4 --out "$tmp/ds" --resume \
  2> "$tmp/dr.log"
check "resume with another --arch: clear error" \
  "[ $? -ne 0 ] && grep -q 'another architecture' '$tmp/dr.log'"
"$train" --data "$tmp/data/manifest.tsv" --out "$tmp/x" --arch nope 2> "$tmp/x.log"
check "unknown --arch: clear error" "[ $? -eq 2 ] && grep -q 'arch must be' '$tmp/x.log'"
"$train" --data "$tmp/nonexistent.tsv" --out "$tmp/x" 2> "$tmp/x.log"
check "missing manifest: clear error" "[ $? -ne 0 ] && grep -q 'cannot read' '$tmp/x.log'"
"$train" --data "$tmp/data/manifest.tsv" --out "$tmp/x" --batch-size 0 2> "$tmp/x.log"
check "bad option: clear error" "[ $? -eq 2 ] && grep -q 'out of range' '$tmp/x.log'"
echo "$fails failed"
[ $fails -eq 0 ]
