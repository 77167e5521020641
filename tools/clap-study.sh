#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Zero-shot vs few-shot vs head on classes held out of CLAP training
# (issue 6). Trains a text tower on MODEL's frozen encoder without the
# HOLDOUT classes, then scores the val clips of those classes alone with:
#   head      MODEL's own label vectors cut down to the held-out classes
#             (its encoder and head DID see them: an upper bound, not a peer)
#   zeroshot  one text prompt per class through the new text tower
#   k-shot    clar-enroll prototypes from k train clips per class (k = 1, 5;
#             seeds 1..5; a class with fewer train clips uses them all)
#
#   tools/clap-study.sh BUILD_DIR MODEL OUT_DIR [HOLDOUT]
set -eu
build=$1 model=$2 out=$3
holdout=${4:-cow,thunder,laughter,seven,yes,flute,organ,wind}
data=${CLAR_DATA:-data/manifest.tsv}
mkdir -p "$out"
"$build/tools/clar-train" --clap --init "$model" --data "$data" --out "$out/holdout.safetensors" \
  --holdout "$holdout" --cache "$out/cache" --steps 3000 --buckets 4096 --text-dim 64 \
  2> "$out/train.log"
grep accuracy "$out/train.log" || true
ev() { "$build/tools/clar-eval" --model "$out/holdout.safetensors" --data "$data" --cache "$out/cache-eval" \
  --classes "$holdout" --json "$@" 2>/dev/null; }
echo "measure	value	clips"
for p in "{}" "the sound of {}" "the word {}" "a {} note"; do
  ev --prompts "$p" | /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); print("zeroshot \"'"$p"'\"\t%.4f\t%d" % (r["zeroshot"], r["zeroshot_clips"])); print("head\t%.4f\t%d" % (r["head"], r["head_clips"]), file=sys.stderr)' 2>> "$out/head.txt"
done
sort -u "$out/head.txt"
for k in 1 5; do
  for s in 1 2 3 4 5; do
    "$build/tools/clar-enroll" --model "$out/holdout.safetensors" --data "$data" --split train \
      --shots $k --seed $s --classes "$holdout" --cache "$out/cache-enroll-$k-$s" \
      --out "$out/enroll-$k-$s.safetensors" 2>/dev/null
    ev --labels "$out/enroll-$k-$s.safetensors" | /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); print("'"$k"'-shot seed '"$s"'\t%.4f\t%d" % (r["labels"], r["labels_clips"]))'
  done
done
