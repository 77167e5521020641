#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# clar-train against the PyTorch trainer (python -m clar.train on 2 gloo
# workers, torchrun on 127.0.0.1) on the same manifest, steps, global batch,
# schedule and loss (hybrid), then clar-eval of both exports on the
# manifest's held-out split: k-NN, linear probe and head accuracy.
#   bench/compare-train-torch.sh BUILD_DIR MANIFEST OUT_DIR [STEPS] [GLOBAL_BATCH] [TEST_SPLIT]
# Prints each trainer's wall time and clar-eval's summary lines.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$1; manifest=$2; out=$3; S=${4:-300}; G=${5:-32}; split=${6:-val}
mkdir -p "$out"
export PYTHONPATH="$here/python" OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
common=(--data "$manifest" --steps "$S" --warmup $((S / 10)) --checkpoint-every 100000 --seed 1)
t0=$(date +%s)
"$build/tools/clar-train" "${common[@]}" --out "$out/c" --cache "$out/ccache" --batch-size "$G" \
  --threads 2 2>&1 | tail -1
t1=$(date +%s)
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
torchrun --nproc_per_node 2 --redirects 1 --tee 1 --master_addr 127.0.0.1 --master_port "$port" \
  -m clar.train "${common[@]}" --out "$out/torch" --cache "$out/pcache" --batch-size $((G / 2)) \
  --threads 1 --log-every 1000 2>&1 | grep -v '^\*\*\*\|OMP_NUM\|^\[default' | tail -1
t2=$(date +%s)
echo "clar-train: $((t1 - t0)) s; torch, 2 workers: $((t2 - t1)) s (wall, decoding included)"
for m in c torch; do
  echo "== $m: $(tail -1 "$out/$m/train-log.tsv" | cut -f4,7 | sed 's/\t/ loss, views\/s /')"
  "$build/tools/clar-eval" --model "$out/$m/model.safetensors" --data "$manifest" \
    --test-split "$split" --cache "$out/ccache" 2>/dev/null | grep -E -i "knn|probe|head" | head -6
done
