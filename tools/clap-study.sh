#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Zero-shot on classes held out of text-tower training (issues 6 and 16).
# For each seed, trains two towers on MODEL's frozen encoder without the
# HOLDOUT classes (tools/train-text-tower.sh: the shipped recipe, and the
# same without WordNet as the baseline) and scores, on each test split
# (clar-train --clap's closing report on the written model, through
# libclar's clar_labels_from_prompts as the element does):
#   held     the clips of the held-out classes alone, one prompt per
#            held-out class, for several templates; the last template row
#            averages the five (prompt ensembling)
#   hwords   the same with each class named by a word that is in no caption
#            (a synonym or hyponym: calf for cow, piglet for pig...)
#   trained  the clips of every class the tower was trained on, their names
#   swords   8 trained classes named by words in no caption (puppy for
#            canine, rooster for chicken...)
# Each cell: accuracy over clips / mean of the per-class accuracies (classes
# have very different clip counts; flute is more than half of the held-out
# clips). The per-seed logs (OUT_DIR/{wordnet,hashed}-sSEED.log) also give
# each class's accuracy and the class its clips are most often taken for.
#
#   tools/clap-study.sh BUILD_DIR MODEL OUT_DIR [HOLDOUT]
#
# Environment: CLAR_DATA (default data/manifest.tsv); CLAP_STUDY_SEEDS
# (default "1 2 3"); CLAP_TEST_SPLITS (default "val,val-src"); CLAP_HELD_WORDS;
# CLAP_TRAIN_ARGS, clar-train --clap options appended to the recipe of the
# WordNet tower (a variant: "--wn-drop 0 --wn-weights 0.5,0.5,0.8,8,0.25");
# CLAP_STUDY_REUSE=1 re-scores the towers an earlier run left in OUT_DIR
# (clar-train --clap --report-only); CLAP_STUDY_SHOTS=1 adds 1- and 5-shot
# clar-enroll prototypes of the held-out classes (seeds 1..5; they do not
# depend on the text tower) and MODEL's head cut to the held-out classes (an
# upper bound, not a peer: the encoder and head were trained on them), on
# the first split.
set -eu
build=$1 model=$2 out=$3
holdout=${4:-cow,thunder,pig,seven,yes,flute,organ,wind}
here=$(cd "$(dirname "$0")" && pwd)
data=${CLAR_DATA:-data/manifest.tsv}
splits=${CLAP_TEST_SPLITS:-val,val-src}
# Words in no caption of the data builder (tools/data/build_data.py) or of
# src/train/clap.c, for the default held-out classes and for 8 trained ones.
held_words=${CLAP_HELD_WORDS:-cow=calf,thunder=thunderstorm,pig=piglet,seven=7,yes=affirmative,flute=fife,organ=harmonium,wind=breeze}
seen_words=canine=puppy,chicken=rooster,string=violoncello,horse=pony,sheep=lamb,rain=drizzle,engine=motor,footsteps=footfall
templates='{};the sound of {};the word {};a {} note;a recording of a {};{}|the sound of {}|the word {}|a {} note|a recording of a {}'
report=(--val-split "$splits" --report-templates "$templates" --report-words "$held_words"
  --report-seen "$seen_words")
mkdir -p "$out"
for s in ${CLAP_STUDY_SEEDS:-1 2 3}; do
  for kind in wordnet hashed; do
    tower=$out/$kind-s$s.safetensors
    if [ "${CLAP_STUDY_REUSE:-0}" = 1 ] && [ -f "$tower" ]; then
      "$build/tools/clar-train" --clap --report-only --init "$tower" --data "$data" \
        --cache "$out/cache" "${report[@]}" 2> "$out/$kind-s$s.log"
    else
      extra=()
      # shellcheck disable=SC2206
      [ $kind = wordnet ] && extra=(${CLAP_TRAIN_ARGS:-})
      CLAR_DATA=$data CLAP_CACHE=$out/cache CLAP_WORDNET=$([ $kind = wordnet ] && echo 1 || echo 0) \
        "$here/train-text-tower.sh" "$build" "$model" "$tower" --holdout "$holdout" --seed "$s" \
        "${report[@]}" "${extra[@]}" 2> "$out/$kind-s$s.log"
    fi
  done
done
# shellcheck disable=SC2086
/usr/bin/python3 - "$out" ${CLAP_STUDY_SEEDS:-1 2 3} <<'PY'
import re, sys
out, seeds = sys.argv[1], sys.argv[2:]
sets = {"held-out classes only": "held", "held-out classes by words in no caption": "hwords",
        "classes seen in training": "trained", "--report-seen classes by words": "swords"}
cells, order = {}, []
for kind in ("wordnet", "hashed"):
    for s in seeds:
        for line in open("%s/%s-s%s.log" % (out, kind, s)):
            m = re.match(r'clar-train --clap: (\S+), (.*): prompt "(.*)" accuracy (\S+) over '
                         r'(\d+) clips.*per-class mean (\S+)', line)
            if not m or m.group(2) not in sets:
                continue
            split, what, tmpl, acc, n, mean = m.groups()
            key = (split, sets[what], "ensemble of the 5" if "|" in tmpl else tmpl)
            if key not in order:
                order.append(key)
            cells[key + (kind, s)] = (float(acc), float(mean), int(n))
print("split\tset\tprompt\t" + "\t".join("%s s%s" % (k, s) for k in ("wordnet", "hashed") for s in seeds) + "\tclips")
for key in order:
    row = [cells.get(key + (k, s)) for k in ("wordnet", "hashed") for s in seeds]
    n = next((c[2] for c in row if c), 0)
    print("\t".join(key) + "\t" + "\t".join("%.3f/%.3f" % c[:2] if c else "-" for c in row) + "\t%d" % n)
# The issue's bar: held-out classes by name, every seed and template.
for split in sorted({k[0] for k in order}):
    for kind in ("wordnet", "hashed"):
        v = [cells[k + (kind, s)][0] for k in order for s in seeds
             if k[0] == split and k[1] == "held" and k[2] != "ensemble of the 5" and k + (kind, s) in cells]
        t = [cells[k + (kind, s)][0] for k in order for s in seeds
             if k[0] == split and k[1] == "trained" and k + (kind, s) in cells]
        if v:
            print("%s %s: held-out classes by name %.3f..%.3f (mean %.3f over %d seed x template); "
                  "trained classes %.3f..%.3f (mean %.3f)" % (split, kind, min(v), max(v), sum(v) / len(v),
                  len(v), min(t), max(t), sum(t) / len(t)))
PY
[ "${CLAP_STUDY_SHOTS:-0}" = 1 ] || exit 0
first=$(echo "${CLAP_STUDY_SEEDS:-1 2 3}" | awk '{print $1}')
split=${splits%%,*}
"$build/tools/clar-eval" --model "$model" --data "$data" --cache "$out/cache" --test-split "$split" \
  --labels-only --json --classes "$holdout" 2>/dev/null \
  | /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); print("the head cut to the held-out classes (not a peer)\t%.4f\t%d" % (r["head"], r["head_clips"]))'
for k in 1 5; do
  for s in 1 2 3 4 5; do
    "$build/tools/clar-enroll" --model "$out/wordnet-s$first.safetensors" --data "$data" --split train \
      --shots $k --seed $s --classes "$holdout" --cache "$out/cache" \
      --out "$out/enroll-$k-$s.safetensors" 2>/dev/null
    "$build/tools/clar-eval" --model "$out/wordnet-s$first.safetensors" --data "$data" --cache "$out/cache" \
      --test-split "$split" --labels-only --json --classes "$holdout" --labels "$out/enroll-$k-$s.safetensors" 2>/dev/null \
      | /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); print("'"$k"'-shot seed '"$s"'\t%.4f\t%d" % (r["labels"], r["labels_clips"]))'
  done
done
