#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Label sets are tied to the encoder they were made with (issue 17 item 2,
# model.h "Encoder fingerprint"): clar-enroll records the fingerprint,
# clar-embed, clar-eval and clarembed refuse labels made with another
# encoder (head, label file, text tower) unless explicitly overridden,
# clar-fingerprint shows and stamps them, and the shipped model's head and
# tower record its own encoder. Two random fixtures stand for two encoders.
set -u
: "${CLAR_BUILD_ROOT:?run through meson test}"
T=$CLAR_BUILD_ROOT/tools
shipped=$CLAR_SOURCE_ROOT/models/clar-default.safetensors
export GST_PLUGIN_PATH=$CLAR_BUILD_ROOT/plugin
export GST_REGISTRY_1_0=$CLAR_BUILD_ROOT/tests/registry-fingerprint.bin
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
check () { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails+1)); fi; }
fp () { "$T/clar-fingerprint" "$1" | sed -n 's/.* encoder \([^ ]*\).*/\1/p'; }

"$T/clar-mkmodel" --seed 1 --text-tower -o "$tmp/a.safetensors" || exit 1
"$T/clar-mkmodel" --seed 2 --text-tower -o "$tmp/b.safetensors" || exit 1
fa=$(fp "$tmp/a.safetensors"); fb=$(fp "$tmp/b.safetensors")
check "two encoders, two fingerprints ($fa, $fb)" "[ -n '$fa' ] && [ '$fa' != '$fb' ]"
check "clar-mkmodel ties its head and tower to its encoder" \
  "\"$T/clar-fingerprint\" '$tmp/a.safetensors' | grep -q 'head $fa text $fa\$'"

# Few-shot labels enrolled with encoder A.
mkdir -p "$tmp/data/low" "$tmp/data/high"
for i in 1 2; do
  gst-launch-1.0 -q audiotestsrc freq=$((200 * i)) num-buffers=20 samplesperbuffer=1600 ! \
    audio/x-raw,rate=16000,channels=1 ! wavenc ! filesink location="$tmp/data/low/$i.wav" || exit 1
  gst-launch-1.0 -q audiotestsrc freq=$((3000 * i)) num-buffers=20 samplesperbuffer=1600 ! \
    audio/x-raw,rate=16000,channels=1 ! wavenc ! filesink location="$tmp/data/high/$i.wav" || exit 1
done
"$T/clar-enroll" --model "$tmp/a.safetensors" --data "$tmp/data" --out "$tmp/la.safetensors" \
  2> "$tmp/enroll.log"
check "clar-enroll exits 0" "[ $? -eq 0 ]"
check "clar-enroll records encoder A" "[ \"\$(fp '$tmp/la.safetensors')\" = '$fa' ]"

clip=$tmp/data/low/1.wav
"$T/clar-embed" --model "$tmp/a.safetensors" --labels "$tmp/la.safetensors" "$clip" \
  > "$tmp/ok.json" 2> "$tmp/ok.err"
check "clar-embed: A's labels on A run, no warning" \
  "[ $? -eq 0 ] && grep -q '\"name\"' '$tmp/ok.json' && ! [ -s '$tmp/ok.err' ]"
"$T/clar-embed" --model "$tmp/b.safetensors" --labels "$tmp/la.safetensors" "$clip" \
  > "$tmp/bad.json" 2> "$tmp/bad.err"
rc=$?
check "clar-embed: A's labels beside B refused (rc $rc), both fingerprints named" \
  "[ $rc -eq 1 ] && ! [ -s '$tmp/bad.json' ] && grep -q 'made with encoder $fa' '$tmp/bad.err' \
   && grep -q '$fb' '$tmp/bad.err' && grep -q -- '--allow-encoder-mismatch' '$tmp/bad.err'"
"$T/clar-embed" --model "$tmp/b.safetensors" --labels "$tmp/la.safetensors" \
  --allow-encoder-mismatch "$clip" > "$tmp/forced.json" 2> "$tmp/forced.err"
check "clar-embed --allow-encoder-mismatch: runs, warns" \
  "[ $? -eq 0 ] && grep -q '\"name\"' '$tmp/forced.json' && grep -q warning '$tmp/forced.err'"
"$T/clar-eval" --model "$tmp/b.safetensors" --data "$tmp/data" --labels "$tmp/la.safetensors" \
  > /dev/null 2> "$tmp/eval.err"
check "clar-eval: A's labels beside B refused" \
  "[ $? -eq 1 ] && grep -q 'made with encoder $fa' '$tmp/eval.err'"

# The element: A's labels beside B fail to start; allow-encoder-mismatch runs.
el () { gst-launch-1.0 -m audiotestsrc num-buffers=20 samplesperbuffer=1600 ! \
  audio/x-raw,rate=16000,channels=1 ! clarembed model-location="$tmp/b.safetensors" \
  labels-location="$tmp/la.safetensors" message-embedding=false "$@" ! fakesink 2>&1; }
el > "$tmp/el.txt"
check "clarembed: A's labels beside B refused at start" \
  "grep -q 'made with another encoder' '$tmp/el.txt' && grep -q 'allow-encoder-mismatch=true' '$tmp/el.txt' \
   && ! grep -q 'element): clarembed, ' '$tmp/el.txt'"
el allow-encoder-mismatch=true > "$tmp/el2.txt"
check "clarembed allow-encoder-mismatch=true: windows, and a warning" \
  "grep -q 'element): clarembed, ' '$tmp/el2.txt' && grep -q 'WARNING.*another encoder' '$tmp/el2.txt'"

# A model whose head and tower were copied from A beside B's encoder: the
# head is refused by clar-embed, the tower's prompts by clar-eval, and
# clar-fingerprint --stamp will not paper over it.
python3 - "$tmp/b.safetensors" "$tmp/spliced.safetensors" "$fa" <<'EOF' || exit 1
import json, struct, sys
src, dst, fp = sys.argv[1:]
raw = open(src, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n])
hdr["__metadata__"]["clar.labels.encoder_fingerprint"] = fp
hdr["__metadata__"]["clar.text.encoder_fingerprint"] = fp
h = json.dumps(hdr).encode()
h += b" " * (-len(h) % 8)
open(dst, "wb").write(struct.pack("<Q", len(h)) + h + raw[8 + n:])
EOF
"$T/clar-embed" --model "$tmp/spliced.safetensors" "$clip" > /dev/null 2> "$tmp/head.err"
check "clar-embed: a head made for another encoder refused" \
  "[ $? -eq 1 ] && grep -q \"the model's head\" '$tmp/head.err'"
"$T/clar-eval" --model "$tmp/spliced.safetensors" --data "$tmp/data" --prompts "{}" \
  --allow-encoder-mismatch > /dev/null 2> "$tmp/tower.err"
check "clar-eval --allow-encoder-mismatch: head and tower warned about" \
  "grep -q \"warning: the model's head\" '$tmp/tower.err' \
   && grep -q \"warning: the model's text tower\" '$tmp/tower.err'"
"$T/clar-fingerprint" --stamp "$tmp/spliced.safetensors" -o "$tmp/x.safetensors" 2> "$tmp/stamp.err"
check "--stamp refuses a head made for another encoder" \
  "[ $? -eq 1 ] && ! [ -e '$tmp/x.safetensors' ] && grep -q 'another encoder' '$tmp/stamp.err'"

# --stamp ties an untied model (written before fingerprints) to its encoder.
python3 - "$tmp/a.safetensors" "$tmp/untied.safetensors" <<'EOF' || exit 1
import json, struct, sys
src, dst = sys.argv[1:]
raw = open(src, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n])
del hdr["__metadata__"]["clar.labels.encoder_fingerprint"]
del hdr["__metadata__"]["clar.text.encoder_fingerprint"]
h = json.dumps(hdr).encode()
h += b" " * (-len(h) % 8)
open(dst, "wb").write(struct.pack("<Q", len(h)) + h + raw[8 + n:])
EOF
"$T/clar-embed" --model "$tmp/untied.safetensors" "$clip" > /dev/null 2> "$tmp/untied.err"
check "clar-embed: untied head used with a warning" \
  "[ $? -eq 0 ] && grep -q 'record no encoder fingerprint' '$tmp/untied.err'"
"$T/clar-fingerprint" --stamp "$tmp/untied.safetensors" -o "$tmp/stamped.safetensors" 2>/dev/null
check "--stamp ties head and tower to the model's encoder" \
  "\"$T/clar-fingerprint\" '$tmp/stamped.safetensors' | grep -q 'encoder $fa head $fa text $fa\$'"

if [ -f "$shipped" ]; then
  fs=$(fp "$shipped")
  check "the shipped model's head and tower record its encoder" \
    "\"$T/clar-fingerprint\" '$shipped' | grep -Eq 'head $fs text ($fs|absent)\$'"
fi
exit $((fails > 0))
