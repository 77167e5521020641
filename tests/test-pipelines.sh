#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Integration: real gst-launch-1.0 pipelines and the clar-embed CLI over
# encoded files made here. Needs gst-launch-1.0 with vorbisenc/oggmux
# (gstreamer1.0-plugins-base); skips (77) without them.
set -u
: "${CLAR_BUILD_ROOT:?run through meson test}"
model=$CLAR_BUILD_ROOT/tests/elements/fixture.safetensors
embed=$CLAR_BUILD_ROOT/tools/clar-embed
export GST_PLUGIN_PATH=$CLAR_BUILD_ROOT/plugin
export GST_REGISTRY_1_0=$CLAR_BUILD_ROOT/tests/registry-pipelines.bin
command -v gst-launch-1.0 >/dev/null || { echo "no gst-launch-1.0: skipped"; exit 77; }
gst-inspect-1.0 vorbisenc >/dev/null 2>&1 || { echo "no vorbisenc: skipped"; exit 77; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
check () { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails+1)); fi; }

# 3.2 s of a 44.1 kHz stereo tone, Ogg/Vorbis: decodebin, audioconvert and
# audioresample must bring it to 16 kHz mono for clarembed.
gst-launch-1.0 -q audiotestsrc num-buffers=138 samplesperbuffer=1024 freq=660 ! \
  audio/x-raw,rate=44100,channels=2 ! audioconvert ! vorbisenc ! oggmux ! \
  filesink location="$tmp/tone.ogg" || { echo "cannot encode test file"; exit 1; }

out=$tmp/launch.txt
gst-launch-1.0 -m filesrc location="$tmp/tone.ogg" ! decodebin ! audioconvert ! \
  audioresample ! clarembed model-location="$model" message-embedding=false ! \
  fakesink > "$out" 2>&1
rc=$?
check "gst-launch pipeline exits 0" "[ $rc -eq 0 ]"
n=$(grep -c 'element): clarembed, timestamp' "$out")
# 3.21 s: full windows at 0, 0.5, 1.0, 1.5, 2.0 (ends 3.0); 2.5 holds 0.71 s -> padded.
check "6 window messages ($n)" "[ '$n' = 6 ]"
check "first window at 0" "grep -q 'clarembed, timestamp=(guint64)0, ' '$out'"
check "last window at 2.5 s, padded" "grep 'timestamp=(guint64)2500000000,' '$out' | grep -q 'padded=(boolean)true'"
check "labels and scores in messages" "grep -q 'labels=(string)<' '$out' && grep -q 'scores=(float)<' '$out'"

# Without audioresample: not-negotiated, not a crash. (fakesink async=false:
# with an async sink, gst-launch-1.0 itself sometimes keeps waiting after the
# source's not-negotiated error, as the EOS that follows prerolls the sink.)
timeout 60 gst-launch-1.0 audiotestsrc num-buffers=5 ! audio/x-raw,rate=44100,channels=1 ! \
  clarembed model-location="$model" ! fakesink async=false > "$tmp/bad.txt" 2>&1
rc=$?
check "wrong rate fails with status 1 ($rc)" "[ $rc -eq 1 ]"
check "wrong rate: not-negotiated" "grep -q 'not-negotiated' '$tmp/bad.txt'"

# A corrupt model: loader message in the error.
head -c 100 "$model" > "$tmp/trunc.safetensors"
gst-launch-1.0 audiotestsrc num-buffers=5 ! audio/x-raw,rate=16000,channels=1 ! \
  clarembed model-location="$tmp/trunc.safetensors" ! fakesink > "$tmp/trunc.txt" 2>&1
check "truncated model: error names the problem" "grep -q 'Could not load the clar model' '$tmp/trunc.txt' && grep -q 'announces' '$tmp/trunc.txt'"

# Two elements in one pipeline share the model (tee).
gst-launch-1.0 -m audiotestsrc num-buffers=40 samplesperbuffer=800 ! audio/x-raw,rate=16000,channels=1 ! \
  tee name=t t. ! queue ! clarembed name=a model-location="$model" ! fakesink \
  t. ! queue ! clarembed name=b model-location="$model" ! fakesink > "$tmp/two.txt" 2>&1
check "two elements both report" "grep -q 'element \"a\" (element): clarembed' '$tmp/two.txt' && grep -q 'element \"b\" (element): clarembed' '$tmp/two.txt'"

# clar-embed over the same file and error cases.
if [ -x "$embed" ]; then
  "$embed" --model "$model" --top-k 2 --embeddings "$tmp/tone.ogg" > "$tmp/embed.jsonl"
  check "clar-embed exits 0" "[ $? -eq 0 ]"
  check "clar-embed prints 6 windows" "[ \$(wc -l < '$tmp/embed.jsonl') = 6 ]"
  check "clar-embed JSON parses" "/usr/bin/python3 -c 'import json,sys; rows=[json.loads(l) for l in open(sys.argv[1])]; assert [r[\"start\"] for r in rows]==[0,0.5,1,1.5,2,2.5]; assert all(len(r[\"labels\"])==2 and len(r[\"embedding\"])==128 for r in rows)' '$tmp/embed.jsonl'"
  "$embed" --model "$model" /nonexistent.wav > /dev/null 2> "$tmp/err1.txt"
  check "clar-embed missing file: exit 1 + message" "[ $? -eq 1 ] && grep -q 'no such file' '$tmp/err1.txt'"
  echo "just text" > "$tmp/notaudio.wav"
  "$embed" --model "$model" "$tmp/notaudio.wav" > /dev/null 2> "$tmp/err2.txt"
  check "clar-embed non-audio: exit 1 + message" "[ $? -eq 1 ] && grep -q 'cannot decode' '$tmp/err2.txt'"
  "$embed" --model "$tmp/trunc.safetensors" "$tmp/tone.ogg" > /dev/null 2> "$tmp/err3.txt"
  check "clar-embed bad model: exit 1 + message" "[ $? -eq 1 ] && grep -q 'cannot load model' '$tmp/err3.txt'"
fi
# The example programs read the results the way applications do.
mon=$CLAR_BUILD_ROOT/examples/clar-monitor
if [ -x "$mon" ]; then
  "$mon" "$tmp/tone.ogg" "$model" > "$tmp/mon.txt" 2>&1
  check "C example: 6 windows, 5 metas, 1 final event" "[ \$(grep -c ' s  ' '$tmp/mon.txt') = 6 ] && grep -q '^5 windows carried a GstClarMeta, 1 final padded window came as a clarembed-window event' '$tmp/mon.txt'"
  # A clip shorter than one window (0.7 s): its one window is the final
  # padded one, reported as an event, not lost.
  gst-launch-1.0 -q audiotestsrc num-buffers=14 samplesperbuffer=800 freq=440 ! \
    audio/x-raw,rate=16000,channels=1 ! audioconvert ! vorbisenc ! oggmux ! \
    filesink location="$tmp/short.ogg"
  "$mon" "$tmp/short.ogg" "$model" > "$tmp/mon-short.txt" 2>&1
  check "C example, 0.7 s clip: 1 window, as the final event" "[ \$(grep -c 'final, zero-padded' '$tmp/mon-short.txt') = 1 ] && grep -q '^0 windows carried a GstClarMeta, 1 final padded window came as a clarembed-window event' '$tmp/mon-short.txt'"
fi
if /usr/bin/python3 -c 'import gi; gi.require_version("Gst", "1.0")' 2>/dev/null; then
  /usr/bin/python3 "$CLAR_SOURCE_ROOT/examples/clar-monitor.py" "$tmp/tone.ogg" "$model" > "$tmp/py.txt" 2> "$tmp/py.err"
  check "Python example: 6 windows with labels and 128-d embeddings" "[ \$(grep -c '(|emb|=128)' '$tmp/py.txt') = 6 ] && grep -q '^6 windows' '$tmp/py.err'"
  check "Python example: the final window's event" "grep -q '^final    2.500 s  window 5  (zero-padded)' '$tmp/py.txt' && grep -q '1 came as a final clarembed-window event' '$tmp/py.err'"
fi
echo "$fails failed"
[ $fails -eq 0 ]
