#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Zero-shot vs few-shot vs head on classes held out of CLAP training
# (issues 6 and 16). Trains a text tower on MODEL's frozen encoder without
# the HOLDOUT classes, then scores the val clips of those classes alone with:
#   head      MODEL's own label vectors cut down to the held-out classes
#             (its encoder and head DID see them: an upper bound, not a peer)
#   zeroshot  one text prompt per class through the new text tower, for
#             several templates; "words" rows replace each class name by a
#             word that is in no caption (a synonym or hyponym: calf for
#             cow, breeze for wind...), and the "seen" rows do the same on
#             8 classes the tower WAS trained on (puppy for canine...)
#   k-shot    clar-enroll prototypes from k train clips per class (k = 1, 5;
#             seeds 1..5; a class with fewer train clips uses them all)
#
#   tools/clap-study.sh BUILD_DIR MODEL OUT_DIR [HOLDOUT]
# Environment: CLAR_DATA (default data/manifest.tsv); CLAP_TRAIN_ARGS, extra
# clar-train --clap options (e.g. "--wordnet"); CLAP_STUDY_SHOTS=0 skips the
# k-shot rows (they do not depend on the text tower); CLAP_TEST_SPLITS, the
# manifest splits scored (default "val"). Zero-shot rows give the accuracy
# over clips and the mean of the per-class accuracies (classes have very
# different clip counts).
set -eu
build=$1 model=$2 out=$3
holdout=${4:-cow,thunder,laughter,seven,yes,flute,organ,wind}
data=${CLAR_DATA:-data/manifest.tsv}
# Words in no caption of the data builder (tools/data/build_data.py) or of
# src/train/clap.c, for the default held-out classes and for 8 trained ones.
held_words=${CLAP_HELD_WORDS:-cow=calf,thunder=thunderstorm,laughter=giggle,seven=7,yes=affirmative,flute=fife,organ=harmonium,wind=breeze}
seen_classes=canine,chicken,string,horse,sheep,rain,engine,footsteps
seen_words=canine=puppy,chicken=rooster,string=violoncello,horse=pony,sheep=lamb,rain=drizzle,engine=motor,footsteps=footfall
mkdir -p "$out"
# CLAP_STUDY_REUSE=1 scores an OUT_DIR/holdout.safetensors left by an earlier run.
if [ "${CLAP_STUDY_REUSE:-0}" != 1 ] || [ ! -f "$out/holdout.safetensors" ]; then
  # shellcheck disable=SC2086
  "$build/tools/clar-train" --clap --init "$model" --data "$data" --out "$out/holdout.safetensors" \
    --holdout "$holdout" --cache "$out/cache" --steps 3000 --buckets 4096 --text-dim 64 \
    ${CLAP_TRAIN_ARGS:-} 2> "$out/train.log"
fi
grep accuracy "$out/train.log" || true
ev() { "$build/tools/clar-eval" --model "$out/holdout.safetensors" --data "$data" --cache "$out/cache-eval" \
  --test-split "$split" --labels-only --json "$@" 2>/dev/null; }
zs() { /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); print("%s\t%s\t%.4f\t%.4f\t%d" % (sys.argv[2], sys.argv[1], r["zeroshot"], r["zeroshot_balanced"], r["zeroshot_clips"])); print("%s\thead\t%.4f\t\t%d" % (sys.argv[2], r["head"], r["head_clips"]), file=sys.stderr)' "$1" "$split"; }
echo "split	measure	accuracy	per-class mean	clips"
for split in ${CLAP_TEST_SPLITS:-val}; do
  : > "$out/head-$split.txt"
  for p in "{}" "the sound of {}" "the word {}" "a {} note" "a recording of a {}"; do
    ev --classes "$holdout" --prompts "$p" | zs "zeroshot \"$p\"" 2>> "$out/head-$split.txt"
    ev --classes "$holdout" --prompts "$p" --class-words "$held_words" | zs "zeroshot words \"$p\"" 2>/dev/null
  done
  sort -u "$out/head-$split.txt"
  for p in "{}" "the sound of {}"; do
    ev --classes "$seen_classes" --prompts "$p" | zs "seen classes \"$p\"" 2>/dev/null
    ev --classes "$seen_classes" --prompts "$p" --class-words "$seen_words" | zs "seen words \"$p\"" 2>/dev/null
  done
done
[ "${CLAP_STUDY_SHOTS:-1}" = 0 ] && exit 0
split=${CLAP_TEST_SPLITS:-val}
split=${split%% *}
for k in 1 5; do
  for s in 1 2 3 4 5; do
    "$build/tools/clar-enroll" --model "$out/holdout.safetensors" --data "$data" --split train \
      --shots $k --seed $s --classes "$holdout" --cache "$out/cache-enroll-$k-$s" \
      --out "$out/enroll-$k-$s.safetensors" 2>/dev/null
    ev --classes "$holdout" --labels "$out/enroll-$k-$s.safetensors" | /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); print("'"$k"'-shot seed '"$s"'\t%.4f\t%d" % (r["labels"], r["labels_clips"]))'
  done
done
