#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Short audio is never silent nothing (issue 17 item 7): clar-embed says a
# file is too short for any window and exits 1 (--min-fill 0 reports it
# padded); clarembed posts a warning (tests/elements/test-clarembed-openset.c
# checks the element in detail); clar-enroll refuses a truncated WAV and a
# 50 ms clip as examples unless told to drop them.
set -u
: "${CLAR_BUILD_ROOT:?run through meson test}"
T=$CLAR_BUILD_ROOT/tools
model=$CLAR_BUILD_ROOT/tests/elements/fixture.safetensors
export GST_PLUGIN_PATH=$CLAR_BUILD_ROOT/plugin
export GST_REGISTRY_1_0=$CLAR_BUILD_ROOT/tests/registry-short-audio.bin
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
check () { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails+1)); fi; }
wav () {  # path seconds*10 (buffers of 0.1 s)
  gst-launch-1.0 -q audiotestsrc wave=pink-noise num-buffers=$2 samplesperbuffer=1600 ! \
    audio/x-raw,rate=16000,channels=1 ! wavenc ! filesink location="$1" || exit 1
}
wav "$tmp/short.wav" 1
wav "$tmp/long.wav" 15
"$T/clar-embed" --model "$model" "$tmp/short.wav" > "$tmp/o.json" 2> "$tmp/o.err"
rc=$?
check "clar-embed: 0.1 s file -> rc 1 and the reason (rc $rc)" \
  "[ $rc -eq 1 ] && ! [ -s '$tmp/o.json' ] && grep -q '0.100 s of audio is less than --min-fill 0.50' '$tmp/o.err'"
"$T/clar-embed" --model "$model" --min-fill 0 "$tmp/short.wav" > "$tmp/p.json" 2>/dev/null
check "clar-embed --min-fill 0: one padded window" \
  "[ $? -eq 0 ] && [ \$(wc -l < '$tmp/p.json') -eq 1 ] && grep -q '\"padded\":true' '$tmp/p.json'"
"$T/clar-embed" --model "$model" --window 11 "$tmp/long.wav" > /dev/null 2> "$tmp/w.err"
check "clar-embed --window 11 on 1.5 s: says so" "[ $? -eq 1 ] && grep -q -- '--window' '$tmp/w.err'"
gst-launch-1.0 -m filesrc location="$tmp/short.wav" ! decodebin ! audioconvert ! audioresample ! \
  clarembed model-location="$model" ! fakesink > "$tmp/g.txt" 2>&1
check "clarembed: 0.1 s file -> a warning" "grep -q 'WARNING.*no window was reported' '$tmp/g.txt'"
mkdir -p "$tmp/d/a" "$tmp/d/b"
for i in 1 2 3; do wav "$tmp/d/a/$i.wav" 12; wav "$tmp/d/b/$i.wav" 12; done
head -c 100 "$tmp/d/a/1.wav" > "$tmp/d/a/truncated.wav"
gst-launch-1.0 -q audiotestsrc num-buffers=1 samplesperbuffer=800 ! audio/x-raw,rate=16000,channels=1 ! \
  wavenc ! filesink location="$tmp/d/b/50ms.wav"
"$T/clar-enroll" --model "$model" --data "$tmp/d" --val-fraction 0 --out "$tmp/l.safetensors" \
  > /dev/null 2> "$tmp/e.err"
check "clar-enroll refuses a truncated WAV and a 50 ms clip by default" \
  "[ $? -ne 0 ] && ! [ -e '$tmp/l.safetensors' ] && grep -q '2 dropped' '$tmp/e.err'"
exit $((fails > 0))
