#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# clar-train beyond a plain run (issue 17, item 8), on tiny data made here:
#  - --init MODEL fine-tunes: encoder and head kept when the classes match,
#    and the validation before the first step equals clar-eval's head
#    accuracy of MODEL on the same held-out clips; its batch-norms are
#    calibrated on random training views, not on the manifest's first rows;
#  - validation on the held-out split every --val-every steps (stderr and
#    train-log.tsv) and after training; folder data validates on its
#    --val-fraction split;
#  - SIGINT / SIGTERM write a checkpoint and the model, and --resume
#    continues from the step reported;
#  - --ema: the weight average is validated beside the weights, exported as
#    model.safetensors (the last weights as model-last.safetensors), and
#    carried by the checkpoint, so that a stopped and resumed run ends at the
#    same average as one that never stopped;
#  - --aug fmix (Freq-MixStyle) mixes every view at P 1, reproducibly and
#    resumably, and at P 0 trains weight for weight as without it;
#    --fmix-exempt leaves the named classes' views unmixed;
#  - --train-labels: only the listed classes' rows learn, the others stay;
#  - --freeze-encoder keeps the --init encoder for its steps (through the
#    whole run, the exported encoder is the --init model's), then trains it
#    (stop and resume included);
#  - errors say what to change (batch size larger than the data, one class);
#  - --name / --description land in the model's metadata, and so do the
#    clips it was trained on, which clar-eval then refuses to score;
#  - clar-enroll --append puts enrolled labels after the model's own.
# Needs sox (skips with 77 otherwise).
set -u
: "${CLAR_BUILD_ROOT:?run through meson test}"
B=$CLAR_BUILD_ROOT/tools
command -v sox >/dev/null || { echo "no sox: skipped"; exit 77; }
tmp=$(mktemp -d); [ -n "${KEEP_TMP:-}" ] && echo "$tmp" || trap 'rm -rf "$tmp"' EXIT
fails=0
check () { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails+1)); fi; }
meta () {  # file key
  /usr/bin/python3 -c 'import json,struct,sys; f=open(sys.argv[1],"rb"); n=struct.unpack("<Q",f.read(8))[0]; print(json.loads(f.read(n))["__metadata__"].get(sys.argv[2],""))' "$1" "$2"
}
tensors () {  # file: a digest of the tensor data (the metadata left out)
  /usr/bin/python3 -c 'import hashlib,struct,sys; f=open(sys.argv[1],"rb"); n=struct.unpack("<Q",f.read(8))[0]; f.seek(8+n); print(hashlib.sha1(f.read()).hexdigest())' "$1"
}

mkdir -p "$tmp/d/tone" "$tmp/d/noise"
printf 'path\tlabel\tsplit\n' > "$tmp/d/m.tsv"
for i in $(seq 1 12); do
  sox -R -n -r 16000 -c 1 "$tmp/d/tone/t$i.wav" synth 1.2 sine $((200 + i * 40)) vol 0.5
  sox -R -n -r 16000 -c 1 "$tmp/d/noise/n$i.wav" synth 1.$((i % 5)) whitenoise vol 0.$((20 + i))
  s=train; [ $i -gt 8 ] && s=val
  printf 'tone/t%d.wav\ttone\t%s\nnoise/n%d.wav\tnoise\t%s\n' $i $s $i $s >> "$tmp/d/m.tsv"
done
# Seed 1: a random model whose head gets 3 of the 8 val clips right (neither
# chance nor all), so the comparison below can fail.
"$B/clar-mkmodel" --seed 1 --labels "noise;tone" -o "$tmp/fix.safetensors" || exit 1
common=(--batch-size 8 --warmup 2 --threads 1)

# Fine-tuning.
"$B/clar-train" --data "$tmp/d/m.tsv" --init "$tmp/fix.safetensors" --out "$tmp/ft" --steps 6 \
  --checkpoint-every 3 "${common[@]}" --name "tones and noise" --description "a test's model" 2> "$tmp/ft.log"
check "--init run exits 0" "[ $? -eq 0 ]"
check "encoder and head kept" "grep -q 'encoder and head kept (the model names all 2 classes)' '$tmp/ft.log'"
v0=$(sed -n 's/^val step 0: loss [0-9.]* accuracy \([0-9.]*\) (8 clips, the --init model)/\1/p' "$tmp/ft.log")
"$B/clar-eval" --model "$tmp/fix.safetensors" --data "$tmp/d/m.tsv" > "$tmp/ev.txt" 2>/dev/null
h0=$(sed -n 's/^head \([0-9.]*\) .*/\1/p' "$tmp/ev.txt")
check "validation before step 1 = clar-eval's head accuracy of the model ($v0 = $h0)" "[ -n '$v0' ] && [ '$v0' = '$h0' ]"
check "validation every 3 steps on stderr" "grep -q '^val step 3: loss' '$tmp/ft.log' && grep -q '^val step 6: loss' '$tmp/ft.log'"
check "and in train-log.tsv (val_loss, val_acc)" \
  "head -1 '$tmp/ft/train-log.tsv' | grep -q 'val_loss.val_acc\$' && [ \$(awk -F'\t' 'NR>1 && \$8 != \"\"' '$tmp/ft/train-log.tsv' | wc -l) -eq 3 ]"
check "validation after training" "grep -q 'validation after training: loss .* (8 held-out clips of split val)' '$tmp/ft.log'"
check "--name stored" "[ \"\$(meta '$tmp/ft/model.safetensors' clar.name)\" = 'tones and noise' ]"
check "--description stored" "[ \"\$(meta '$tmp/ft/model.safetensors' clar.description)\" = \"a test's model\" ]"
"$B/clar-mkmodel" --seed 4 --labels "noise;bird" -o "$tmp/fix2.safetensors"
"$B/clar-train" --data "$tmp/d/m.tsv" --init "$tmp/fix2.safetensors" --out "$tmp/ft2" --steps 1 "${common[@]}" 2> "$tmp/ft2.log"
check "other labels: the head re-initialised for them" "grep -q 'head: 1 of 2 classes kept from the model.s labels, the other 1 start random' '$tmp/ft2.log'"

# The batch-norms of an --init model are calibrated on views drawn as
# training draws them, not on the first rows: here the first 8 training rows
# are all tones, and the 8 calibration views (batch 4) still hold both classes.
{ head -1 "$tmp/d/m.tsv"; grep 'tone.*train$' "$tmp/d/m.tsv"; grep -v 'tone.*train$' "$tmp/d/m.tsv" | tail -n +2; } > "$tmp/d/sorted.tsv"
"$B/clar-train" --data "$tmp/d/sorted.tsv" --init "$tmp/fix.safetensors" --out "$tmp/cal" --steps 1 \
  --batch-size 4 --warmup 1 --threads 1 --val-split "" 2> "$tmp/cal.log"
check "--init: batch-norms calibrated on random training views of every class, not the first rows" \
  "grep -q 'batch-norms calibrated on 8 augmented views of random training clips (2 of 2 classes)' '$tmp/cal.log'"

# Weight averaging.
ema=(--data "$tmp/d/m.tsv" --steps 6 --checkpoint-every 3 --ema 0.9 "${common[@]}")
"$B/clar-train" "${ema[@]}" --out "$tmp/ema" 2> "$tmp/ema.log"
check "--ema run exits 0" "[ $? -eq 0 ]"
check "--ema: the average validated beside the weights" \
  "grep -q '^val step 3, weight average: loss [0-9.]* accuracy' '$tmp/ema.log' && grep -q '^val step 6, weight average: loss' '$tmp/ema.log'"
check "--ema: and in train-log.tsv (ema_val_loss, ema_val_acc)" \
  "head -1 '$tmp/ema/train-log.tsv' | grep -q 'val_acc.ema_val_loss.ema_val_acc\$' && [ \$(awk -F'\t' 'NR>1 && \$11 != \"\"' '$tmp/ema/train-log.tsv' | wc -l) -eq 2 ]"
check "--ema: model.safetensors is the average, model-last.safetensors the weights (they differ)" \
  "grep -q 'wrote .*model-last.safetensors (the last weights)' '$tmp/ema.log' && grep -q 'model.safetensors after 6 steps .*, the weight average' '$tmp/ema.log' && [ \"\$(tensors '$tmp/ema/model.safetensors')\" != \"\$(tensors '$tmp/ema/model-last.safetensors')\" ]"
"$B/clar-eval" --model "$tmp/ema/model.safetensors" --data "$tmp/d/m.tsv" > /dev/null 2>&1
check "--ema: the average is a model clar-eval loads" "[ $? -eq 0 ]"
# Stopped after its first step (--max-minutes), then resumed.
"$B/clar-train" "${ema[@]}" --out "$tmp/ema2" --max-minutes 0.00001 2> "$tmp/ema2.log"
"$B/clar-train" "${ema[@]}" --out "$tmp/ema2" --resume 2>> "$tmp/ema2.log"
check "--ema: stopped at step 1 and resumed: the same average as without a stop" \
  "grep -q 'resumed at step 1\$' '$tmp/ema2.log' && [ \"\$(tensors '$tmp/ema/model.safetensors')\" = \"\$(tensors '$tmp/ema2/model.safetensors')\" ] && [ \"\$(tensors '$tmp/ema/model-last.safetensors')\" = \"\$(tensors '$tmp/ema2/model-last.safetensors')\" ]"
"$B/clar-train" --data "$tmp/d/m.tsv" --out "$tmp/ft" --steps 8 --ema 0.9 "${common[@]}" --resume 2> "$tmp/ema3.log"
check "--ema on a run started without it: refused, with why" \
  "[ $? -eq 1 ] && grep -q 'cannot resume: .*(a run resumes with the --ema it started with)' '$tmp/ema3.log'"
"$B/clar-train" "${ema[@]}" --out "$tmp/ema4" --ema 1 2> "$tmp/ema4.log"
check "--ema 1 (an average that never moves): refused" "[ $? -eq 2 ] && grep -q 'out of range' '$tmp/ema4.log'"

# Batch-level augmentations, mixup (--aug mixup=P:ALPHA) and Freq-MixStyle
# (--aug fmix=P:ALPHA): reproducible, resumable, a real change of the
# training; at P 0 the run is the run without it (their draws have their
# own generators); alpha 0 refused.
mix=(--data "$tmp/d/m.tsv" --steps 4 --checkpoint-every 2 --seed 3 "${common[@]}")
"$B/clar-train" "${mix[@]}" --out "$tmp/mx0" 2> /dev/null
batch_aug () {  # KEY ON-SPEC: the checks above; the ON run's log is $tmp/KEY1.log
  local k=$1 on=$2
  "$B/clar-train" "${mix[@]}" --aug "$k=0" --out "$tmp/${k}00" 2> /dev/null
  "$B/clar-train" "${mix[@]}" --aug "$on" --out "$tmp/${k}1" 2> "$tmp/${k}1.log"
  check "$k run exits 0" "[ $? -eq 0 ]"
  "$B/clar-train" "${mix[@]}" --aug "$on" --out "$tmp/${k}2" 2> /dev/null
  check "$k: the same seed gives the same weights" "[ \"\$(tensors '$tmp/${k}1/model.safetensors')\" = \"\$(tensors '$tmp/${k}2/model.safetensors')\" ]"
  check "$k: other weights than the same run without it" "[ \"\$(tensors '$tmp/${k}1/model.safetensors')\" != \"\$(tensors '$tmp/mx0/model.safetensors')\" ]"
  check "$k=0: the run without it, weight for weight" "[ \"\$(tensors '$tmp/${k}00/model.safetensors')\" = \"\$(tensors '$tmp/mx0/model.safetensors')\" ]"
  "$B/clar-train" "${mix[@]}" --aug "$on" --out "$tmp/${k}3" --max-minutes 0.00001 2> /dev/null
  "$B/clar-train" "${mix[@]}" --aug "$on" --out "$tmp/${k}3" --resume 2> "$tmp/${k}3.log"
  check "$k: stopped at step 1 and resumed: the same weights" \
    "grep -q 'resumed at step 1\$' '$tmp/${k}3.log' && [ \"\$(tensors '$tmp/${k}1/model.safetensors')\" = \"\$(tensors '$tmp/${k}3/model.safetensors')\" ]"
  "$B/clar-train" "${mix[@]}" --aug "$k=0.5:0" --out "$tmp/x" 2> "$tmp/x.log"
  check "$k with alpha 0: refused" "[ $? -eq 2 ] && grep -q 'bad --aug' '$tmp/x.log'"
}
batch_aug mixup mixup=1:0.4
"$B/clar-train" "${mix[@]}" --loss ntxent --aug mixup=0.5 --out "$tmp/x" 2> "$tmp/x.log"
check "mixup without a cross-entropy term: refused, with why" \
  "[ $? -eq 2 ] && grep -q 'mixup=0.5 needs a cross-entropy term (--loss hybrid or ce)' '$tmp/x.log'"
batch_aug fmix fmix=1:0.3
check "fmix=1: every view mixed, and said" "grep -q 'freq-mixstyle mixed 64 of 64 views' '$tmp/fmix1.log'"
# --fmix-exempt: the named classes' views are never mixed (every other view
# still is, at P 1), so the views mixed and the views exempt add up to all;
# a name that is no class, or the option without fmix, is refused.
"$B/clar-train" "${mix[@]}" --aug fmix=1:0.3 --fmix-exempt tone --out "$tmp/fx1" 2> "$tmp/fx1.log"
read -r fxm fxe < <(sed -n 's/.*freq-mixstyle mixed \([0-9]*\) of 64 views in this run.s steps (\([0-9]*\) views of --fmix-exempt classes left as they were)/\1 \2/p' "$tmp/fx1.log")
check "--fmix-exempt tone: runs, says 1 of 2 classes exempt, mixed + exempt = 64 views, both > 0 (${fxm:-?} + ${fxe:-?})" \
  "grep -q 'fmix-exempt: views of 1 of 2 classes keep their own band statistics' '$tmp/fx1.log' && [ \"${fxm:-0}\" -gt 0 ] && [ \"${fxe:-0}\" -gt 0 ] && [ \$((${fxm:-0} + ${fxe:-0})) -eq 64 ]"
check "--fmix-exempt tone: other weights than fmix=1 without it" \
  "[ \"\$(tensors '$tmp/fx1/model.safetensors')\" != \"\$(tensors '$tmp/fmix1/model.safetensors')\" ]"
"$B/clar-train" "${mix[@]}" --aug fmix=1:0.3 --fmix-exempt tone,noise --out "$tmp/fx2" 2> "$tmp/fx2.log"
check "--fmix-exempt of every class: no view mixed" \
  "grep -q 'freq-mixstyle mixed 0 of 64 views in this run.s steps (64 views' '$tmp/fx2.log'"
"$B/clar-train" "${mix[@]}" --aug fmix=1:0.3 --fmix-exempt tone,kazoo --out "$tmp/x" 2> "$tmp/x.log"
check "--fmix-exempt kazoo: not a class of the data: refused" \
  "[ \$? -eq 2 ] && grep -q 'fmix-exempt: \"kazoo\" is not a class of the training data' '$tmp/x.log'"
"$B/clar-train" "${mix[@]}" --fmix-exempt tone --out "$tmp/x" 2> "$tmp/x.log"
check "--fmix-exempt without fmix: refused, with why" \
  "[ \$? -eq 2 ] && grep -q 'fmix-exempt needs Freq-MixStyle on' '$tmp/x.log'"

# "silence" is never mixed: 8 silent clips and one tone per epoch of 9 in
# batches of 8 leave the tone no partner (0 views mixed); the same clips
# under another name are mixed.
mkdir -p "$tmp/sil"
printf 'path\tlabel\tsplit\n' > "$tmp/sil/s.tsv"; printf 'path\tlabel\tsplit\n' > "$tmp/sil/h.tsv"
for i in $(seq 1 8); do
  sox -R -n -r 16000 -c 1 "$tmp/sil/q$i.wav" synth 1.2 whitenoise vol 0.00$((i % 4 + 1))
  printf 'q%d.wav\tsilence\ttrain\n' $i >> "$tmp/sil/s.tsv"; printf 'q%d.wav\thush\ttrain\n' $i >> "$tmp/sil/h.tsv"
done
cp "$tmp/d/tone/t1.wav" "$tmp/sil/t1.wav"
printf 't1.wav\ttone\ttrain\n' | tee -a "$tmp/sil/s.tsv" >> "$tmp/sil/h.tsv"
"$B/clar-train" --data "$tmp/sil/s.tsv" --val-split "" --steps 3 --seed 3 "${common[@]}" --aug mixup=1 --out "$tmp/sil/o1" 2> "$tmp/sil/o1.log"
check "mixup: clips of \"silence\" are never mixed" "grep -q 'mixup mixed 0 of 48 labelled views' '$tmp/sil/o1.log'"
"$B/clar-train" --data "$tmp/sil/h.tsv" --val-split "" --steps 3 --seed 3 "${common[@]}" --aug mixup=1 --out "$tmp/sil/o2" 2> "$tmp/sil/o2.log"
check "mixup: the same clips under another name are" "grep -q 'mixup mixed [1-9][0-9]* of 48 labelled views' '$tmp/sil/o2.log'"

# --freeze-encoder S (LP-FT): for S steps the encoder stays as the --init
# model's (as calibrated: the seed draws the calibration views), whatever
# the rate and loss weights, while the heads learn; then it
# trains; a stop and --resume inside the run thaws it at the same step.
part () {  # checkpoint, enc|head: a digest of the encoder's (conv, linear,
           # batch-norm affine; not the running statistics) or the heads' values
  /usr/bin/python3 - "$1" "$2" <<'PY'
import hashlib, json, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]; h = json.loads(f.read(n)); base = 8 + n
d = hashlib.sha1()
for k in sorted(k for k in h if k != "__metadata__"):
    enc = k.startswith("encoder.") or (k.startswith("bn.") and not k.endswith(("running_mean", "running_var")))
    if (enc if sys.argv[2] == "enc" else k.startswith("head.")):
        f.seek(base + h[k]["data_offsets"][0]); d.update(k.encode() + f.read(h[k]["data_offsets"][1] - h[k]["data_offsets"][0]))
print(d.hexdigest())
PY
}
fz=(--data "$tmp/d/m.tsv" --init "$tmp/fix.safetensors" --steps 3 --checkpoint-every 3 --val-split "" "${common[@]}")
"$B/clar-train" "${fz[@]}" --freeze-encoder 3 --seed 5 --out "$tmp/fz1" 2> "$tmp/fz1.log"
check "--freeze-encoder run exits 0 and says so" "[ $? -eq 0 ] && grep -q 'the encoder is frozen for steps 1-3' '$tmp/fz1.log'"
"$B/clar-train" "${fz[@]}" --freeze-encoder 3 --seed 5 --lr 3e-3 --ce-weight 3 --out "$tmp/fz2" 2> /dev/null
check "--freeze-encoder: the encoder is the same after 3 frozen steps at other rates and weights" \
  "[ \"\$(part '$tmp/fz1/checkpoint.safetensors' enc)\" = \"\$(part '$tmp/fz2/checkpoint.safetensors' enc)\" ]"
check "--freeze-encoder: while the heads learnt different values" \
  "[ \"\$(part '$tmp/fz1/checkpoint.safetensors' head)\" != \"\$(part '$tmp/fz2/checkpoint.safetensors' head)\" ]"
# Frozen for the whole run (a refit of the heads alone): the encoder runs on
# MODEL's batch-norm statistics and leaves them be, so the exported encoder
# is MODEL's, up to the rounding of unfolding and refolding the batch-norms.
encdiff () {  # a.safetensors b.safetensors: max |a-b| / max |a|, worst encoder.* tensor
  /usr/bin/python3 - "$1" "$2" <<'PY'
import array, json, struct, sys
def load(p):
    f = open(p, "rb"); n = struct.unpack("<Q", f.read(8))[0]; h = json.loads(f.read(n)); b = f.read()
    out = {}
    for k, v in h.items():
        if k.startswith("encoder.") and v["dtype"] == "F32":
            a = array.array("f"); a.frombytes(b[v["data_offsets"][0]:v["data_offsets"][1]]); out[k] = a
    return out
A, B = load(sys.argv[1]), load(sys.argv[2])
assert A and sorted(A) == sorted(B)
# per tensor, relative to its largest value (a tensor of zeros: to 1)
print(max(max(abs(x - y) for x, y in zip(A[k], B[k])) / (max(abs(x) for x in A[k]) or 1.0) for k in A))
PY
}
d=$(encdiff "$tmp/fix.safetensors" "$tmp/fz1/model.safetensors")
check "--freeze-encoder = --steps: the exported encoder is MODEL's (relative difference $d)" \
  "/usr/bin/python3 -c 'import sys; sys.exit(not float(sys.argv[1]) < 1e-5)' '$d'"
"$B/clar-train" "${fz[@]}" --freeze-encoder 2 --seed 5 --out "$tmp/fz3" 2> /dev/null
check "--freeze-encoder 2 of 3 steps: the encoder trains at step 3" \
  "[ \"\$(part '$tmp/fz1/checkpoint.safetensors' enc)\" != \"\$(part '$tmp/fz3/checkpoint.safetensors' enc)\" ]"
"$B/clar-train" "${fz[@]}" --freeze-encoder 2 --seed 5 --out "$tmp/fz4" --max-minutes 0.00001 2> /dev/null
"$B/clar-train" "${fz[@]}" --freeze-encoder 2 --seed 5 --out "$tmp/fz4" --resume 2> "$tmp/fz4.log"
check "--freeze-encoder: stopped at step 1 and resumed: the same weights" \
  "grep -q 'resumed at step 1\$' '$tmp/fz4.log' && [ \"\$(tensors '$tmp/fz3/checkpoint.safetensors')\" = \"\$(tensors '$tmp/fz4/checkpoint.safetensors')\" ]"
"$B/clar-train" --data "$tmp/d/m.tsv" --steps 1 "${common[@]}" --freeze-encoder 2 --out "$tmp/x" 2> "$tmp/x.log"
check "--freeze-encoder without --init: refused, with why" "[ $? -eq 2 ] && grep -q 'freeze-encoder needs --init' '$tmp/x.log'"
"$B/clar-train" "${fz[@]}" --freeze-encoder 2x --out "$tmp/x" 2> "$tmp/x.log"
check "--freeze-encoder 2x: refused" "[ $? -eq 2 ] && grep -q 'freeze-encoder must be a step count' '$tmp/x.log'"

# --train-labels: only the listed classes' classifier rows learn; every
# other row stays the --init model's (with the encoder frozen for the whole
# run nothing else of the exported model changes). fix2 names noise and
# bird: tone's row is random there, so it must learn.
rows () {  # model.safetensors: "label max|row - row of fix2|" per label
  /usr/bin/python3 - "$1" "$tmp/fix2.safetensors" <<'PY'
import array, json, struct, sys
def load(p):
    f = open(p, "rb"); n = struct.unpack("<Q", f.read(8))[0]; h = json.loads(f.read(n)); b = f.read()
    v = h["labels.embeddings"]; a = array.array("f"); a.frombytes(b[v["data_offsets"][0]:v["data_offsets"][1]])
    names = json.loads(h["__metadata__"]["clar.labels"]); d = len(a) // len(names)
    return {k: a[i * d:(i + 1) * d] for i, k in enumerate(names)}
A, B = load(sys.argv[1]), load(sys.argv[2])
for k in sorted(A):
    print(k, max(abs(x - y) for x, y in zip(A[k], B[k])) if k in B else "new")
PY
}
tl=(--data "$tmp/d/m.tsv" --init "$tmp/fix2.safetensors" --steps 3 --checkpoint-every 3 --val-split "" "${common[@]}"
    --freeze-encoder 3 --seed 5 --lr 3e-2)
"$B/clar-train" "${tl[@]}" --train-labels tone --out "$tmp/tl1" 2> "$tmp/tl1.log"
r=$(rows "$tmp/tl1/model.safetensors" | tr '\n' ' ')
check "--train-labels tone: runs and says 1 of 2 rows learn" \
  "grep -q 'train-labels: 1 of 2 classifier rows learn, the other 1 stay as' '$tmp/tl1.log'"
check "--train-labels tone: noise's row is fix2's ($r)" \
  "/usr/bin/python3 -c 'import sys; sys.exit(not float(sys.argv[1]) < 1e-6)' \"\$(rows '$tmp/tl1/model.safetensors' | awk '\$1==\"noise\"{print \$2}')\""
"$B/clar-train" "${tl[@]}" --train-labels tone,noise --out "$tmp/tl2" 2> /dev/null
check "--train-labels tone,noise: noise's row learns too" \
  "/usr/bin/python3 -c 'import sys; sys.exit(not float(sys.argv[1]) > 1e-3)' \"\$(rows '$tmp/tl2/model.safetensors' | awk '\$1==\"noise\"{print \$2}')\""
check "--train-labels: the encoder is fix2's (frozen for the run)" \
  "/usr/bin/python3 -c 'import sys; sys.exit(not float(sys.argv[1]) < 1e-5)' \"\$(encdiff '$tmp/fix2.safetensors' '$tmp/tl1/model.safetensors')\""
"$B/clar-train" "${tl[@]}" --train-labels noise --out "$tmp/x" 2> "$tmp/x.log"
check "--train-labels noise: tone's row would stay random: refused, with why" \
  "[ \$? -eq 2 ] && grep -q 'class \"tone\" is not a label of' '$tmp/x.log'"
"$B/clar-train" "${tl[@]}" --train-labels tone,kazoo --out "$tmp/x" 2> "$tmp/x.log"
check "--train-labels kazoo: not a class of the data: refused" \
  "[ \$? -eq 2 ] && grep -q '\"kazoo\" is not a class of the training data' '$tmp/x.log'"
"$B/clar-train" --data "$tmp/d/m.tsv" --steps 1 "${common[@]}" --train-labels tone --out "$tmp/x" 2> "$tmp/x.log"
check "--train-labels without --init: refused" "[ \$? -eq 2 ] && grep -q 'train-labels needs --init' '$tmp/x.log'"

# Folder data: trains on the train split, validates on the held-out one.
"$B/clar-train" --data "$tmp/d" --out "$tmp/fo" --steps 2 --checkpoint-every 2 "${common[@]}" 2> "$tmp/fo.log"
check "folder data validates on its held-out split" \
  "grep -q 'd (split val): [1-9][0-9]* files' '$tmp/fo.log' && grep -q 'validation after training' '$tmp/fo.log'"
# The model records its training clips: clar-eval scores the same split, and
# refuses a larger held-out split that takes in clips the model learnt from.
"$B/clar-eval" --model "$tmp/fo/model.safetensors" --data "$tmp/d" > /dev/null 2> "$tmp/fe.log"
check "clar-eval on the model's own held-out split: accepted" "[ $? -eq 0 ]"
"$B/clar-eval" --model "$tmp/fo/model.safetensors" --data "$tmp/d" --val-fraction 0.6 > /dev/null 2> "$tmp/fe.log"
check "a split holding clips the model was trained on: refused" \
  "[ $? -eq 1 ] && grep -q 'refusing: [0-9]* of [0-9]* test clips .* are clips the model was trained on' '$tmp/fe.log'"
"$B/clar-eval" --model "$tmp/fo/model.safetensors" --data "$tmp/d" --val-fraction 0.6 --exclude-overlap \
  > "$tmp/fe.txt" 2> "$tmp/fe.log"
check "--exclude-overlap scores the clips it never saw" \
  "[ $? -eq 0 ] && grep -q 'WARNING: those clips are excluded' '$tmp/fe.log'"

# Signals.
for sig in INT TERM; do
  "$B/clar-train" --data "$tmp/d/m.tsv" --out "$tmp/s$sig" --steps 100000 --checkpoint-every 1000 \
    "${common[@]}" 2> "$tmp/s$sig.log" &
  pid=$!
  for _ in $(seq 1 600); do
    [ -f "$tmp/s$sig/train-log.tsv" ] && [ "$(wc -l < "$tmp/s$sig/train-log.tsv")" -ge 3 ] && break
    sleep 0.1
  done
  kill -$sig $pid
  wait $pid; rc=$?
  want=130; [ $sig = TERM ] && want=143
  check "SIG$sig: exit $want ($rc)" "[ $rc -eq $want ]"
  at=$(sed -n "s/^clar-train: SIG$sig at step \([0-9]*\): wrote .*checkpoint.safetensors (continue with --resume)/\1/p" "$tmp/s$sig.log")
  check "SIG$sig: checkpoint written at step $at" "[ -n '$at' ] && [ -s '$tmp/s$sig/checkpoint.safetensors' ]"
  [ $sig = INT ] && at_int=$at
  check "SIG$sig: model written after $at steps" \
    "grep -q 'wrote .*model.safetensors after $at steps' '$tmp/s$sig.log' && [ \"\$(meta '$tmp/s$sig/model.safetensors' clar.training_steps)\" = '$at' ]"
done
"$B/clar-train" --data "$tmp/d/m.tsv" --out "$tmp/sINT" --steps $((at_int + 2)) --checkpoint-every 1000 \
  "${common[@]}" --resume 2> "$tmp/r.log"
check "--resume continues from the interrupted step ($at_int)" "grep -q 'resumed at step $at_int\$' '$tmp/r.log'"

# Errors that say what to change.
"$B/clar-train" --data "$tmp/d/m.tsv" --out "$tmp/x" --batch-size 128 2> "$tmp/x.log"
check "batch larger than the data: suggests a size" \
  "[ $? -eq 1 ] && grep -q '16 usable clips but --batch-size 128: .*use --batch-size 16' '$tmp/x.log'"
"$B/clar-train" --clap --init "$tmp/fix.safetensors" --data "$tmp/d/m.tsv" --out "$tmp/x.safetensors" \
  --batch-size 64 --steps 1 2> "$tmp/x.log"
check "--clap: batch larger than the data: says the size to use" \
  "[ $? -eq 1 ] && grep -q '16 clips train the tower but --batch-size 64: use --batch-size 16 or less' '$tmp/x.log'"
mkdir -p "$tmp/one/tone"; cp "$tmp"/d/tone/*.wav "$tmp/one/tone/"
"$B/clar-train" --data "$tmp/one" --out "$tmp/x" --batch-size 4 2> "$tmp/x.log"
check "one class: refused, with what to do" \
  "[ $? -eq 1 ] && grep -q 'one class (tone): a classifier needs at least two.*--loss ntxent' '$tmp/x.log'"
"$B/clar-train" --data "$tmp/d/m.tsv" --out "$tmp/x" --name "" 2> "$tmp/x.log"
check "empty --name refused" "[ $? -eq 2 ]"

# clar-enroll --append.
mkdir -p "$tmp/new/chirp"
for i in 1 2 3; do sox -R -n -r 16000 -c 1 "$tmp/new/chirp/c$i.wav" synth 1.2 sine $((300 + i * 20))-3000 vol 0.5; done
"$B/clar-enroll" --model "$tmp/fix.safetensors" --data "$tmp/new" --val-fraction 0 --append \
  --out "$tmp/app.safetensors" 2> "$tmp/app.log"
check "--append exits 0" "[ $? -eq 0 ] && grep -q '3 labels, the model.s first' '$tmp/app.log'"
/usr/bin/python3 - "$tmp/app.safetensors" > "$tmp/names.txt" <<'PY'
import json, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]
m = json.loads(f.read(n))["__metadata__"]
print(m.get("clar.labels", ""))
PY
check "the model's labels first, then the enrolled one" "grep -qx '\\[\"noise\",\"tone\",\"chirp\"\\]' '$tmp/names.txt'"
mkdir -p "$tmp/dup/tone"; cp "$tmp"/d/tone/t1.wav "$tmp/dup/tone/"
"$B/clar-enroll" --model "$tmp/fix.safetensors" --data "$tmp/dup" --val-fraction 0 --append \
  --out "$tmp/x.safetensors" 2> "$tmp/x.log"
check "--append refuses a label the model has" "[ $? -eq 1 ] && grep -q '\"tone\" is already one of the model.s labels' '$tmp/x.log'"
echo "$fails failed"
[ $fails -eq 0 ]
