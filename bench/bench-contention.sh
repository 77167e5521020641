#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Two pipelines at once (one per core of a 2-core machine), each an hour of
# 16 kHz audio through clarembed at full speed, with /usr/bin/time's user and
# system time per pipeline: once as built (libclar's own encoder kernel, one
# BLAS thread), once as before issue 19 (encoder on the BLAS, OpenBLAS
# allowed 2 threads: CLAR_KERNEL=blas CLAR_BLAS_THREADS=2).
#   bench/bench-contention.sh [BUILD_DIR] [MODEL] [BUFFERS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-_build}; model=${2:-$here/../models/clar-default.safetensors}; n=${3:-36000}
export GST_PLUGIN_PATH="$build/plugin"
pair () {
  for k in 1 2; do
    /usr/bin/time -f "  pipeline $k: %e s wall, %U s user, %S s system" \
      gst-launch-1.0 -q audiotestsrc wave=white-noise num-buffers="$n" samplesperbuffer=1600 ! \
      audio/x-raw,format=F32LE,rate=16000,channels=1 ! \
      clarembed model-location="$model" post-messages=false ! fakesink sync=false &
  done
  wait
}
echo "== as built (no environment variable)"
pair
echo "== before issue 19: CLAR_KERNEL=blas CLAR_BLAS_THREADS=2"
CLAR_KERNEL=blas CLAR_BLAS_THREADS=2 pair
