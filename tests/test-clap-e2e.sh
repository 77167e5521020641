#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# clar-train --clap, clar-enroll and clar-eval end to end on tiny data made
# here (tones, noise, chirps; manifest with source/group/caption columns) on
# the shipped encoder: the tower trains and is seeded, the written model
# keeps the encoder and records the held-out class, prompts and 3-shot
# prototypes label the val clips, clarembed takes the prompts. Needs sox and
# a trained model in models/ (skips with 77 otherwise).
set -u
: "${CLAR_BUILD_ROOT:?run through meson test}"
train=$CLAR_BUILD_ROOT/tools/clar-train
evalp=$CLAR_BUILD_ROOT/tools/clar-eval
enroll=$CLAR_BUILD_ROOT/tools/clar-enroll
init=$CLAR_SOURCE_ROOT/models/clar-default.safetensors
command -v sox >/dev/null || { echo "no sox: skipped"; exit 77; }
[ -f "$init" ] || { echo "no trained model in models/: skipped"; exit 77; }
export GST_PLUGIN_PATH=$CLAR_BUILD_ROOT/plugin
export GST_REGISTRY_1_0=$CLAR_BUILD_ROOT/tests/registry-clap-e2e.bin
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
check () { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails+1)); fi; }

mkdir -p "$tmp/data/tone" "$tmp/data/noise" "$tmp/data/chirp"
printf 'path\tlabel\tsplit\tsource\tgroup\tcaption\n' > "$tmp/data/manifest.tsv"
for i in $(seq 1 12); do
  sox -R -n -r 16000 -c 1 "$tmp/data/tone/t$i.wav" synth 1.2 sine $((200 + i * 40)) vol 0.5
  # -R makes sox repeatable: a different level per clip keeps the files distinct
  # (clar-eval and clar-train --clap refuse val clips identical to train clips).
  sox -R -n -r 16000 -c 1 "$tmp/data/noise/n$i.wav" synth 1.2 whitenoise vol 0.$((20 + i))
  sox -R -n -r 16000 -c 1 "$tmp/data/chirp/c$i.wav" synth 1.2 sine $((300 + i * 20))-$((3000 + i * 50)) vol 0.5
  s=train; [ $i -gt 9 ] && s=val
  printf 'tone/t%d.wav\ttone\t%s\tsox\tg\ta steady tone\n' $i $s >> "$tmp/data/manifest.tsv"
  printf 'noise/n%d.wav\tnoise\t%s\tsox\tg\twhite noise background\n' $i $s >> "$tmp/data/manifest.tsv"
  printf 'chirp/c%d.wav\tchirp\t%s\tsox\tg\ta rising chirp\n' $i $s >> "$tmp/data/manifest.tsv"
done
args=(--clap --init "$init" --data "$tmp/data/manifest.tsv" --steps 150 --batch-size 8 --warmup 10
  --buckets 512 --text-dim 16 --lr 1e-2)

"$train" "${args[@]}" --out "$tmp/a.safetensors" 2> "$tmp/a.log"
check "clar-train --clap exits 0" "[ $? -eq 0 ]"
check "progress line printed" "grep -q 'clap step 150/150 loss' '$tmp/a.log'"
check "closing report" "grep -q 'val, classes seen in training: prompt' '$tmp/a.log'"
"$train" "${args[@]}" --out "$tmp/b.safetensors" 2>/dev/null
# The files differ only in clar.text.training (the command line names --out).
/usr/bin/python3 - "$tmp/a.safetensors" "$tmp/b.safetensors" > "$tmp/ab.txt" <<'PY'
import struct, sys
def body(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
    return b[8 + n:]
print("same-tensors" if body(sys.argv[1]) == body(sys.argv[2]) else "different")
PY
check "seeded rerun is identical (every tensor byte)" "grep -q same-tensors '$tmp/ab.txt'"
/usr/bin/python3 - "$init" "$tmp/a.safetensors" > "$tmp/st.txt" <<'PY'
import json, struct, sys
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    d = b[8 + n:]
    return h, {k: d[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in h.items() if k != "__metadata__"}
h0, t0 = load(sys.argv[1]); h1, t1 = load(sys.argv[2])
print("same-audio" if all(t1.get(k) == v for k, v in t0.items() if not k.startswith("text.")) else "changed")
print("holdout=" + h1["__metadata__"].get("clar.text.holdout", "?"))
PY
check "encoder tensors unchanged" "grep -q same-audio '$tmp/st.txt'"
"$train" "${args[@]}" --holdout chirp --out "$tmp/h.safetensors" 2> "$tmp/h.log"
/usr/bin/python3 - "$init" "$tmp/h.safetensors" > "$tmp/st.txt" <<'PY'
import json, struct, sys
b = open(sys.argv[2], "rb").read(); n = struct.unpack("<Q", b[:8])[0]
print("holdout=" + json.loads(b[8:8 + n])["__metadata__"].get("clar.text.holdout", "?"))
PY
check "held-out class recorded" "grep -q 'holdout=chirp' '$tmp/st.txt'"
check "held-out class reported apart" "grep -q '1 of 3 classes held out' '$tmp/h.log'"

# Clip embeddings cached by encoder and audio: a second run reads them and
# trains the very same tower as a run without a cache.
"$train" "${args[@]}" --cache "$tmp/cache" --out "$tmp/c1.safetensors" 2> "$tmp/c1.log"
"$train" "${args[@]}" --cache "$tmp/cache" --out "$tmp/c2.safetensors" 2> "$tmp/c2.log"
check "first cached run embeds, second reads the cache" \
  "! grep -q 'clip embeddings from cache' '$tmp/c1.log' && grep -q 'clip embeddings from cache' '$tmp/c2.log'"
/usr/bin/python3 - "$tmp/a.safetensors" "$tmp/c1.safetensors" "$tmp/c2.safetensors" > "$tmp/c.txt" <<'PY'
import struct, sys
def body(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
    return b[8 + n:]
print("same" if body(sys.argv[1]) == body(sys.argv[2]) == body(sys.argv[3]) else "different")
PY
check "cached embeddings train the same tower" "grep -q same '$tmp/c.txt'"
# The closing report alone, on a written tower: templates, '|' ensembles,
# classes named by other words.
"$train" --clap --report-only --init "$tmp/a.safetensors" --data "$tmp/data/manifest.tsv" \
  --holdout chirp,noise --report-templates '{};a {}|the sound of {}' --report-words chirp=whistle \
  --report-seen tone=beep,noise=hiss 2> "$tmp/r.log"
check "--report-only exits 0" "[ $? -eq 0 ]"
check "--report-only trains nothing" "! grep -q 'clap step' '$tmp/r.log'"
check "report: held-out classes, ensemble of two templates" \
  "grep -q 'val, held-out classes only: prompt \"a {}|the sound of {}\" accuracy' '$tmp/r.log'"
check "report: held-out classes by other words" \
  "grep -q 'val, held-out classes by words in no caption: prompt \"{}\" accuracy' '$tmp/r.log'"
check "report: per-class accuracy" "grep -q 'per class: chirp' '$tmp/r.log'"
"$CLAR_BUILD_ROOT/tools/clar-mkmodel" --seed 5 --labels "tone;noise;chirp" -o "$tmp/bare.safetensors"
"$train" --clap --report-only --init "$tmp/bare.safetensors" --data "$tmp/data/manifest.tsv" 2> "$tmp/x.log"
check "--report-only without a text tower: refused" "[ $? -eq 1 ] && grep -q 'has no text tower' '$tmp/x.log'"

"$evalp" --model "$tmp/a.safetensors" --data "$tmp/data/manifest.tsv" --prompts "{}" --json \
  > "$tmp/e.json" 2>/dev/null
cat "$tmp/e.json"
check "zero-shot prompts label val clips (>= 0.8)" \
  "/usr/bin/python3 -c 'import json,sys; sys.exit(json.load(open(\"$tmp/e.json\"))[\"zeroshot\"] < 0.8)'"
"$enroll" --model "$tmp/a.safetensors" --data "$tmp/data/manifest.tsv" --shots 3 --seed 2 \
  --out "$tmp/three.safetensors" 2> "$tmp/enroll.log"
check "clar-enroll exits 0" "[ $? -eq 0 ]"
check "three examples per label" "[ \$(grep -c ': 3 examples$' '$tmp/enroll.log') -eq 3 ]"
"$evalp" --model "$tmp/a.safetensors" --data "$tmp/data/manifest.tsv" --labels "$tmp/three.safetensors" \
  --classes tone,noise --json > "$tmp/l.json" 2>/dev/null
cat "$tmp/l.json"
check "3-shot prototypes label val clips (>= 0.8)" \
  "/usr/bin/python3 -c 'import json,sys; r=json.load(open(\"$tmp/l.json\")); sys.exit(r[\"classes\"] != 2 or r[\"labels\"] < 0.8)'"

gst-launch-1.0 -m filesrc location="$tmp/data/tone/t11.wav" ! decodebin ! audioconvert ! \
  audioresample ! clarembed model-location="$tmp/a.safetensors" labels="noise;tone" top-k=1 ! \
  fakesink > "$tmp/g.txt" 2>&1
check "clarembed labels a tone with the prompt 'tone'" "grep -q 'labels=(string)< tone >' '$tmp/g.txt'"

# WordNet expansion (issue 16), where Debian's wordnet-base is installed.
if [ -f /usr/share/wordnet/data.noun ]; then
  "$train" "${args[@]}" --wordnet --out "$tmp/w.safetensors" 2> "$tmp/w.log"
  check "clar-train --clap --wordnet exits 0" "[ $? -eq 0 ]"
  check "WordNet terms found for the classes" "grep -q 'WordNet terms (synonyms, hyponyms) for' '$tmp/w.log'"
  /usr/bin/python3 - "$tmp/w.safetensors" > "$tmp/wm.txt" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]
m = json.loads(b[8:8 + n])["__metadata__"]
print("v=%s wn=%s depth=%s" % (m.get("clar.text.version"), m.get("clar.text.wordnet"), m.get("clar.text.wn_depth")))
PY
  check "expanded tower written as version 2 with its WordNet keys" "grep -q 'v=2 wn=3.0 depth=8' '$tmp/wm.txt'"
  "$train" "${args[@]}" --wordnet --wn-drop 0.5 --out "$tmp/wd.safetensors" 2> "$tmp/wd.log"
  check "clar-train --clap --wordnet --wn-drop exits 0" "[ $? -eq 0 ]"
  /usr/bin/python3 - "$tmp/w.safetensors" "$tmp/wd.safetensors" > "$tmp/wd.txt" <<'PY'
import struct, sys
def body(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
    return b[8 + n:]
print("same" if body(sys.argv[1]) == body(sys.argv[2]) else "different")
PY
  check "--wn-drop changes the tower" "grep -q different '$tmp/wd.txt'"
  "$evalp" --model "$tmp/w.safetensors" --data "$tmp/data/manifest.tsv" --prompts "{}" --json \
    > "$tmp/we.json" 2>/dev/null
  check "expanded prompts label val clips (>= 0.8)" \
    "/usr/bin/python3 -c 'import json,sys; sys.exit(json.load(open(\"$tmp/we.json\"))[\"zeroshot\"] < 0.8)'"
  CLAR_WORDNET_DIR=$tmp/nowhere "$evalp" --model "$tmp/w.safetensors" --data "$tmp/data/manifest.tsv" \
    --prompts "{}" > /dev/null 2> "$tmp/wx.log"
  check "no WordNet: prompts fail naming the package" "grep -q 'wordnet-base' '$tmp/wx.log'"
else
  echo "skip: the WordNet checks (no /usr/share/wordnet/data.noun; Debian package wordnet-base)"
fi
"$train" "${args[@]}" --wn-pairs 0.5 --out "$tmp/x.safetensors" 2> "$tmp/x.log"
check "--wn-pairs without --wordnet: refused" "[ $? -eq 2 ] && grep -q 'need --wordnet' '$tmp/x.log'"
"$train" "${args[@]}" --wn-drop 0.3 --out "$tmp/x.safetensors" 2> "$tmp/x.log"
check "--wn-drop without --wordnet: refused" "[ $? -eq 2 ] && grep -q 'need --wordnet' '$tmp/x.log'"
"$train" "${args[@]}" --embedding-init 0 --out "$tmp/x.safetensors" 2> "$tmp/x.log"
check "--embedding-init 0: refused" "[ $? -eq 2 ] && grep -q 'out of range' '$tmp/x.log'"

"$train" --clap --data "$tmp/data/manifest.tsv" --out "$tmp/x.safetensors" 2> "$tmp/x.log"
check "missing --init: usage" "[ $? -eq 2 ] && grep -q 'usage: clar-train --clap' '$tmp/x.log'"
"$train" --clap --init "$tmp/none.safetensors" --data "$tmp/data/manifest.tsv" --out "$tmp/x.safetensors" 2> "$tmp/x.log"
check "missing model: clear error" "[ $? -eq 1 ] && grep -q 'none.safetensors' '$tmp/x.log'"
echo "$fails failed"
[ $fails -eq 0 ]
