#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Training throughput, clar vs PyTorch, same architecture and batch, one run.
#   bench/bench-train.sh [BUILD_DIR] [BATCH_CLIPS] [STEPS]
set -euo pipefail
build=${1:-_build}; B=${2:-32}; S=${3:-5}
c=$("$build/bench/bench-train" "$B" "$S" | tee /dev/stderr)
t=$(/usr/bin/python3 "$(dirname "$0")/bench_train_torch.py" "$B" "$S" 2 | tee /dev/stderr)
cv=$(echo "$c" | sed -E 's/.* ([0-9.]+) views\/s.*/\1/')
tv=$(echo "$t" | sed -E 's/.* ([0-9.]+) views\/s.*/\1/')
awk -v a="$cv" -v b="$tv" 'BEGIN { printf "training throughput ratio clar/torch: %.2f\n", a / b }'
