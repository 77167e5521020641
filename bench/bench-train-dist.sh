#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Throughput of the PyTorch trainer (python -m clar.train) on 1 worker with
# 2 threads and with 1 thread against 2 gloo workers (torchrun, 127.0.0.1)
# with 1 thread each,
# same global batch, and of clar-train (2 threads) on the same data and
# batch. Whole steps: augmentation, log-mel, forward, loss, backward, AdamW.
#   bench/bench-train-dist.sh [BUILD_DIR] [MANIFEST|-] [GLOBAL_BATCH] [STEPS]
# MANIFEST "-" (default): 60 generated clips (tones and noise) in a temp folder.
# Prints views/s of each run (over all its steps, as both trainers log it) and the ratios.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-_build}; manifest=${2:--}; G=${3:-32}; S=${4:-20}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export PYTHONPATH="$here/python" OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
if [ "$manifest" = - ]; then
  manifest=$tmp/data/manifest.tsv
  /usr/bin/python3 - "$tmp/data" <<'PY'
import os, sys, wave
import numpy as np
d = sys.argv[1]; os.makedirs(d); rng = np.random.default_rng(1)
rows = ["path\tlabel\tsplit"]
for c in ("hum", "whistle", "hiss"):
    for i in range(20):
        t = np.arange(int(16000 * rng.uniform(0.8, 2.0))) / 16000
        x = {"hum": np.sin(2 * np.pi * rng.uniform(100, 300) * t),
             "whistle": np.sin(2 * np.pi * rng.uniform(1500, 3000) * t),
             "hiss": rng.standard_normal(len(t))}[c]
        p = f"{c}{i}.wav"
        with wave.open(os.path.join(d, p), "wb") as w:
            w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
            w.writeframes((0.3 * x / np.abs(x).max() * 32767).astype("<i2").tobytes())
        rows.append(f"{p}\t{c}\ttrain")
open(os.path.join(d, "manifest.tsv"), "w").write("\n".join(rows) + "\n")
PY
fi
common=(--data "$manifest" --cache "$tmp/cache" --steps "$S" --checkpoint-every 100000 --warmup 5)
rate () {   # the last samples_per_s of train-log.tsv: views/s over the whole run
  tail -1 "$1/train-log.tsv" | cut -f7
}
/usr/bin/python3 -m clar.train "${common[@]}" --out "$tmp/one" --batch-size "$G" --threads 2 \
  --log-every 1000 2>&1 | tail -1 >&2
one=$(rate "$tmp/one")
/usr/bin/python3 -m clar.train "${common[@]}" --out "$tmp/one1" --batch-size "$G" --threads 1 \
  --log-every 1000 2>&1 | tail -1 >&2
one1=$(rate "$tmp/one1")
torchrun --nproc_per_node 2 --redirects 1 --tee 1 --master_addr 127.0.0.1 \
  --master_port "$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')" \
  -m clar.train "${common[@]}" --out "$tmp/two" --batch-size $((G / 2)) --threads 1 \
  --log-every 1000 2>&1 | grep -v '^\*\*\*\|OMP_NUM\|^\[default' | tail -1 >&2
two=$(rate "$tmp/two")
"$build/tools/clar-train" --data "$manifest" --cache "$tmp/ccache" --out "$tmp/c" --steps "$S" \
  --batch-size "$G" --threads 2 --checkpoint-every 100000 --warmup 5 2>&1 | tail -1 >&2
c=$(rate "$tmp/c")
echo "global batch $G clips ($((2 * G)) views), $S steps"
echo "torch 1 worker x 2 threads: $one views/s"
echo "torch 1 worker x 1 thread: $one1 views/s"
echo "torch 2 workers x 1 thread (gloo): $two views/s"
echo "clar-train 2 threads: $c views/s"
awk -v a="$one" -v a1="$one1" -v b="$two" -v c="$c" 'BEGIN { printf "ratios: 2 workers x 1 thread / 1 worker x 1 thread %.2f, / 1 worker x 2 threads %.2f; clar-train / torch 2 workers %.2f\n", b / a1, b / a, c / b }'
