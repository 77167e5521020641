#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The label-fraction study of CLAR (Al-Tahan & Mohsenzadeh 2021, Sec. 5):
# for each fraction F of training labels kept (class-stratified, at least
# one clip per class), train
#   hybrid: NT-Xent over every clip (the unlabelled ones, and the pools
#           below) + cross-entropy on the labelled
#   hybrid-nopool: the same without the pool (the training clips only)
#   ce:     cross-entropy on the labelled clips only (purely supervised)
#   pre:    CLAR's full regime: first NT-Xent alone over every training clip
#           and the pools, labels unused even by the sampler (OUT/pretrain,
#           PRE_STEPS steps, default STEPS; made once and shared by every
#           fraction), then the hybrid loss at fraction F from that encoder
#           (--init), as "hybrid"
# with the same steps, batch, schedule and seed, then evaluate on the
# source-disjoint val split with clar-eval. Resumable: a finished run keeps
# its eval.txt, an interrupted one resumes from its checkpoint.
#   tools/label-fraction.sh [BUILD_DIR] [DATA_DIR] [OUT_DIR] [STEPS] [FRACTIONS] [VARIANTS]
#                           [-- CLAR_TRAIN_OPTIONS...]
# Options after -- go to every clar-train run (a later option wins), e.g.
# the shipped model's regime: -- --balance 0.5 --aug gain=0.7:12 --ema 0.999
# The pools are DATA/unlabelled and DATA/unlabelled-voices, where present.
set -euo pipefail
pos=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do pos+=("$1"); shift; done
[ $# -gt 0 ] && shift
more=("$@")
build=${pos[0]:-_build}; data=${pos[1]:-data}; out=${pos[2]:-data/label-fraction}; steps=${pos[3]:-1000}
fractions=${pos[4]:-"0.01 0.1 1"}; variants=${pos[5]:-"hybrid ce hybrid-nopool"}
mkdir -p "$out"
# One clar-train run into DIR (log DIR.log) with the study's schedule:
#   train DIR STEPS [OPTIONS...]   OPTIONS, then the options after --, then
# the array "late" (which therefore wins over both); resumes DIR's checkpoint.
train () {
  local dir=$1 n=$2 resume=()
  shift 2
  [ -f "$dir/checkpoint.safetensors" ] && resume=(--resume)
  mkdir -p "$dir"
  "$build/tools/clar-train" --data "$data/manifest.tsv" --split train --out "$dir" \
    --batch-size 64 --steps "$n" --lr 2e-3 --lr-min 2e-5 --warmup 100 --weight-decay 1e-4 \
    --seed 1 --threads 2 --checkpoint-every 200 --cache "$out/cache" \
    "$@" "${more[@]}" "${late[@]}" "${resume[@]}" 2> "$dir.log" || { tail -5 "$dir.log" >&2; exit 1; }
}
pools=()
for p in unlabelled unlabelled-voices; do [ -d "$data/$p" ] && pools+=(--unlabelled "$data/$p"); done
# One encoder pre-trained without labels for the "pre" variant.
pre="$out/pretrain"
case " $variants " in
  *" pre "*)
    if [ ! -f "$pre/model.safetensors" ]; then
      echo "== pre-training (NT-Xent, no labels), ${PRE_STEPS:-$steps} steps" >&2
      late=(--balance 0 "${pools[@]}")
      train "$pre" "${PRE_STEPS:-$steps}" --loss ntxent
    fi ;;
esac
for F in $fractions; do
  for V in $variants; do
    dir="$out/$V-$F"; L=${V%-nopool}
    [ -f "$dir/eval.txt" ] && continue
    late=()
    [ "$V" = pre ] && { L=hybrid; late+=(--init "$pre/model.safetensors"); }
    [ "$L" = hybrid ] && [ "$V" != hybrid-nopool ] && late+=("${pools[@]}")
    echo "== $V, label fraction $F" >&2
    train "$dir" "$steps" --loss "$L" --label-fraction "$F"
    "$build/tools/clar-eval" --model "$dir/model.safetensors" --data "$data/manifest.tsv" --test-split val \
      --cache "$out/cache" > "$dir/eval.tmp" 2>&1
    mv "$dir/eval.tmp" "$dir/eval.txt"
  done
done
printf "fraction\tvariant\tlabelled\tclips\thead\tknn1\tknn5\tprobe\tminutes\n"
for F in $fractions; do
  for V in $variants; do
    dir="$out/$V-$F"
    [ -f "$dir/eval.txt" ] || continue
    lab=$(sed -nE 's/.*: ([0-9]+) clips \(([0-9]+) labelled\).*/\2/p' "$dir.log" | head -1)
    n=$(sed -nE 's/.*: ([0-9]+) clips \(([0-9]+) labelled\).*/\1/p' "$dir.log" | head -1)
    mins=$(sed -nE 's/.* steps \(([0-9.]+) min\).*/\1/p' "$dir.log" | tail -1)
    awk -v F="$F" -v L="$V" -v lab="$lab" -v n="$n" -v m="${mins:-?}" '
      $1 == "knn1" { k1 = $2 } $1 == "knn5" { k5 = $2 } $1 == "probe" { p = $2 } $1 == "head" { h = $2 }
      END { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", F, L, lab, n, h, k1, k5, p, m }' "$dir/eval.txt"
  done
done
