#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Per-window inference cost, libclar vs PyTorch/torchaudio, one thread, one run.
#   bench/bench-infer.sh [BUILD_DIR] [MODEL] [SECONDS_PER_FIGURE]
# Also measures the same binary with OpenBLAS forced to its generic kernel
# (what Debian 12's OpenBLAS picks on CPUs it does not know), and a BLIS
# build (BUILD_DIR-blis, made with -Dblas=blis) when one exists.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-_build}; model=${2:-$here/../models/clar-default.safetensors}; secs=${3:-3}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 BLIS_NUM_THREADS=1

get () { awk -v k="$1" '$1 == k { print $2 }'; }

echo "== libclar, default BLAS kernel"
c=$("$build/bench/bench-infer" "$model" "$secs" | tee /dev/stderr)
echo "== libclar, OpenBLAS forced to its generic kernel (OPENBLAS_CORETYPE=Prescott)"
g=$(OPENBLAS_CORETYPE=Prescott "$build/bench/bench-infer" "$model" "$secs" | tee /dev/stderr)
b=
if [ -x "${build}-blis/bench/bench-infer" ]; then
  echo "== libclar built with -Dblas=blis"
  b=$("${build}-blis/bench/bench-infer" "$model" "$secs" | tee /dev/stderr)
fi
echo "== PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') traced+frozen, torchaudio"
t=$(/usr/bin/python3 "$here/bench_infer_torch.py" "$model" "$build/src/libclar.so" "$secs" | tee /dev/stderr)

awk -v ce="$(echo "$c" | get encoder_ms)" -v cm="$(echo "$c" | get mel_ms)" \
    -v ge="$(echo "$g" | get encoder_ms)" -v be="$(echo "$b" | get encoder_ms)" \
    -v te="$(echo "$t" | get torch_encoder_ms)" -v tm="$(echo "$t" | get torch_mel_ms)" \
    -v pf="$(echo "$c" | get encoder_peak_fraction)" -v pk="$(echo "$c" | get fma_peak_gflops)" \
    -v core="$(echo "$c" | get blas_core)" -v ed="$(echo "$t" | get encoder_max_abs_diff)" \
    -v md="$(echo "$t" | get logmel_max_abs_diff)" \
    -v pm="$(echo "$t" | grep '^paired_mel_ratio' | cut -d' ' -f2-)" \
    -v pe="$(echo "$t" | grep '^paired_encoder_ratio' | cut -d' ' -f2-)" 'BEGIN {
  printf "\n== summary (one thread, batch 1, ratios > 1 mean libclar is faster)\n"
  printf "encoder: clar %.3f ms (%s), torch %.3f ms, ratio %.2f, %.0f%% of the %.0f GFLOP/s FMA peak, max abs diff %s\n",
    ce, core, te, te / ce, 100 * pf, pk, ed
  printf "log-mel: clar %.4f ms, torchaudio %.4f ms, ratio %.2f, max abs diff %s\n", cm, tm, tm / cm, md
  printf "paired in one process (alternating rounds, libclar via ctypes): encoder ratio %s; log-mel ratio %s\n", pe, pm
  printf "generic OpenBLAS kernel: encoder %.3f ms, %.2fx slower than the default kernel, ratio to torch %.2f\n",
    ge, ge / ce, te / ge
  if (be != "")
    printf "BLIS build: encoder %.3f ms, ratio to torch %.2f\n", be, te / be
}'
