#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Per-window inference cost, libclar vs PyTorch/torchaudio, one thread, one run,
# then live streams per core and window latency through clar_stream.
#   bench/bench-infer.sh [BUILD_DIR] [MODEL] [SECONDS_PER_FIGURE]
# The default run needs no environment variable: libclar picks its own
# encoder kernel and one BLAS thread; torch is set to one thread.
# Also measures the same binary with OpenBLAS forced to its generic kernel
# (what Debian 12's OpenBLAS picks on CPUs it does not know), and a BLIS
# build (BUILD_DIR-blis, made with -Dblas=blis) when one exists.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-_build}; model=${2:-$here/../models/clar-default.safetensors}; secs=${3:-3}

get () { awk -v k="$1" '$1 == k { print $2 }'; }
# The rest of the line after a key that starts with $1 (figures with their range).
rest () { grep "^$1" | cut -d' ' -f2-; }

echo "== libclar, default BLAS kernel"
c=$("$build/bench/bench-infer" "$model" "$secs" | tee /dev/stderr)
echo "== libclar, OpenBLAS forced to its generic kernel (OPENBLAS_CORETYPE=Prescott)"
g=$(OPENBLAS_CORETYPE=Prescott "$build/bench/bench-infer" "$model" "$secs" | tee /dev/stderr)
echo "== libclar, encoder on the BLAS (CLAR_KERNEL=blas), the path before libclar's own kernels"
k=$(CLAR_KERNEL=blas "$build/bench/bench-infer" "$model" "$secs" | tee /dev/stderr)
b=
if [ -x "${build}-blis/bench/bench-infer" ]; then
  echo "== libclar built with -Dblas=blis"
  b=$("${build}-blis/bench/bench-infer" "$model" "$secs" | tee /dev/stderr)
fi
echo "== libclar, per conv layer (the reuse decision, bench/README.md)"
l=$("$build/bench/bench-layers" "$model" | tee /dev/stderr)
t=
if /usr/bin/python3 -c 'import torch, torchaudio, numpy' 2>/dev/null; then
  echo "== PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') traced+frozen, torchaudio"
  t=$(OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 /usr/bin/python3 "$here/bench_infer_torch.py" "$model" "$build/src/libclar.so" "$secs" | tee /dev/stderr)
else
  echo "== PyTorch/torchaudio not installed (python3-torch, python3-torchaudio): torch figures skipped"
fi

awk -v ce="$(echo "$c" | get encoder_ms)" -v cm="$(echo "$c" | get mel_ms)" \
    -v ge="$(echo "$g" | get encoder_ms)" -v be="$(echo "$b" | get encoder_ms)" \
    -v ke="$(echo "$k" | get encoder_ms)" -v kern="$(echo "$c" | get encoder_kernel)" \
    -v cf="$(echo "$c" | get encoder_fastest_call_ms)" \
    -v pff="$(echo "$c" | get encoder_fastest_call_peak_fraction)" \
    -v kf="$(echo "$k" | get encoder_fastest_call_ms)" \
    -v gf="$(echo "$g" | get encoder_fastest_call_ms)" \
    -v c1c="$(echo "$c" | get encoder_batch_1_fastest_cpu_ms_per_window)" \
    -v c1f="$(echo "$c" | get encoder_batch_1_fastest_cpu_peak_fraction)" \
    -v b4="$(echo "$c" | get encoder_batch_4_fastest_cpu_ms_per_window)" \
    -v b4f="$(echo "$c" | get encoder_batch_4_fastest_cpu_peak_fraction)" \
    -v b16="$(echo "$c" | get encoder_batch_16_fastest_cpu_ms_per_window)" \
    -v b16f="$(echo "$c" | get encoder_batch_16_fastest_cpu_peak_fraction)" \
    -v b64="$(echo "$c" | get encoder_batch_64_fastest_cpu_ms_per_window)" \
    -v b64f="$(echo "$c" | get encoder_batch_64_fastest_cpu_peak_fraction)" \
    -v tb1="$(echo "$t" | rest cpu_fastest_batch_1_)" \
    -v tb16="$(echo "$t" | rest cpu_fastest_batch_16_)" \
    -v bs1="$(echo "$c" | get batched_streams_1_per_core)" -v bs8="$(echo "$c" | get batched_streams_8_per_core)" \
    -v bs64="$(echo "$c" | get batched_streams_64_per_core)" \
    -v bl1="$(echo "$c" | rest batched_streams_1_latency_ms)" \
    -v bl8="$(echo "$c" | rest batched_streams_8_latency_ms)" \
    -v bl64="$(echo "$c" | rest batched_streams_64_latency_ms)" \
    -v ls1="$(echo "$l" | awk '$1 == "conv_share" && $2 == 1 { print $3 }')" \
    -v ls2="$(echo "$l" | awk '$1 == "conv_share" && $2 == 2 { print $3 }')" \
    -v c1="$(echo "$c" | get streams_1_cpu_p99_ms)" -v c8="$(echo "$c" | get streams_8_cpu_p99_ms)" \
    -v c64="$(echo "$c" | get streams_64_cpu_p99_ms)" \
    -v s1="$(echo "$c" | get streams_1_per_core)" -v s8="$(echo "$c" | get streams_8_per_core)" \
    -v s64="$(echo "$c" | get streams_64_per_core)" \
    -v l1="$(echo "$c" | rest streams_1_latency_ms)" \
    -v l8="$(echo "$c" | rest streams_8_latency_ms)" \
    -v l64="$(echo "$c" | rest streams_64_latency_ms)" \
    -v te="$(echo "$t" | get torch_encoder_ms)" -v tm="$(echo "$t" | get torch_mel_ms)" \
    -v pf="$(echo "$c" | get encoder_peak_fraction)" -v pk="$(echo "$c" | get fma_peak_gflops)" \
    -v core="$(echo "$c" | get blas_core)" -v ed="$(echo "$t" | get encoder_max_abs_diff)" \
    -v md="$(echo "$t" | get logmel_max_abs_diff)" \
    -v pm="$(echo "$t" | rest paired_mel_ratio)" \
    -v pe="$(echo "$t" | rest paired_encoder_ratio)" 'BEGIN {
  printf "\n== summary (one thread, batch 1, ratios > 1 mean libclar is faster)\n"
  if (te != "")
    printf "encoder: clar %.3f ms (kernel %s; BLAS %s), torch %.3f ms, ratio %.2f, %.0f%% of the %.0f GFLOP/s FMA peak, max abs diff %s\n",
      ce, kern, core, te, te / ce, 100 * pf, pk, ed
  else
    printf "encoder: clar %.3f ms (kernel %s; BLAS %s), %.0f%% of the %.0f GFLOP/s FMA peak\n", ce, kern, core, 100 * pf, pk
  printf "encoder, fastest single call of 2000: %.3f ms, %.0f%% of the FMA peak (on the BLAS path: %.3f ms)\n", cf, 100 * pff, kf
  printf "encoder per window, fastest call in thread CPU time: batch 1 %.3f ms (%.0f%% of peak), batch 4 %.3f ms (%.0f%%), batch 16 %.3f ms (%.0f%%), batch 64 %.3f ms (%.0f%%)\n", c1c, 100 * c1f, b4, 100 * b4f, b16, 100 * b16f, b64, 100 * b64f
  if (tb1 != "")
    printf "PyTorch traced+frozen at the same batch, thread CPU time, same process: batch 1 %s; batch 16 %s\n", tb1, tb16
  else
    printf "PyTorch at the same batch: skipped (not installed)\n"
  if (te != "") {
    printf "log-mel: clar %.4f ms, torchaudio %.4f ms, ratio %.2f, max abs diff %s\n", cm, tm, tm / cm, md
    printf "paired in one process (alternating rounds, libclar via ctypes): encoder ratio %s; log-mel ratio %s\n", pe, pm
  } else
    printf "log-mel: clar %.4f ms\n", cm
  printf "OpenBLAS forced to its generic kernel: encoder %.3f ms (median; fastest call %.3f ms)\n", ge, gf
  printf "encoder on the BLAS (CLAR_KERNEL=blas): %.3f ms\n", ke
  printf "live streams per core at hop 0.5 s (one thread, clar_stream): 1 stream %s, 8 streams %s, 64 streams %s\n", s1, s8, s64
  printf "window latency (chunk completing a window -> result), ms: 1 stream %s; 8 streams %s; 64 streams %s\n", l1, l8, l64
  printf "the same in thread CPU time, p99: %s, %s, %s ms\n", c1, c8, c64
  printf "batched (a thread per stream, all on one core, one clar_batcher, max-batch 16, wait 10 ms): streams per core 1: %s, 8: %s, 64: %s (process CPU time)\n", bs1, bs8, bs64
  printf "batched window latency (wall, includes the wait for the batch), ms: 1 stream %s; 8 streams %s; 64 streams %s\n", bl1, bl8, bl64
  printf "conv layer shares of the encoder (thread CPU time): conv1 %s, conv2 %s; reuse at hop 0.5 s (conv1 45/101, conv2 20/50 columns, bench/conv-reuse.py) would save at most %.1f%%\n", ls1, ls2, 100 * (ls1 * 45 / 101 + ls2 * 20 / 50)
  if (be != "")
    printf "BLIS build: encoder %.3f ms\n", be
}'
