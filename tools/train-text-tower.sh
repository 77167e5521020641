#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The text tower of the shipped model (models/README.md "Text tower"): CLAP
# on MODEL's frozen encoder (clar-train --clap), captions and prompts
# expanded with WordNet, a share of the captions reduced to their WordNet
# expansion alone (--wn-drop). Writes OUT: MODEL's tensors and keys
# unchanged plus the tower. OUT may be MODEL (written beside, then renamed).
#
#   tools/train-text-tower.sh BUILD_DIR MODEL OUT [clar-train --clap options]
#
# Extra options are appended (a later option wins: --seed 2, --holdout A,B).
# Environment: CLAR_DATA (default data/manifest.tsv); CLAP_CACHE, the
# decoded-audio and clip-embedding cache (default data/clap/cache);
# CLAP_WORDNET=0 trains the same tower without WordNet (the study's
# baseline). Re-run after every encoder change: a new encoder moves the
# embedding space and the tower must follow.
set -eu
build=$1 model=$2 out=$3
shift 3
recipe=(--steps 3000 --buckets 4096 --text-dim 64 --seed 1)
[ "${CLAP_WORDNET:-1}" = 0 ] || recipe+=(--wordnet --wn-drop 0.3 --wn-weights "0.5,0.5,0.8,8,1")
"$build/tools/clar-train" --clap --init "$model" --data "${CLAR_DATA:-data/manifest.tsv}" \
  --out "$out.part" --cache "${CLAP_CACHE:-data/clap/cache}" "${recipe[@]}" "$@"
mv "$out.part" "$out"
