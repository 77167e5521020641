#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# End-to-end clarembed figures (real-time factor, streams per core, element
# overhead, latency, memory per instance), one thread for BLAS.
#   bench/bench-pipeline.sh [BUILD_DIR] [HOURS] [REPEATS]
# The test file (HOURS of generated audio, Ogg/Vorbis) is cached in
# ${XDG_CACHE_HOME:-~/.cache}/gst-clar/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-_build}; hours=${2:-1}; repeats=${3:-3}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/gst-clar
mkdir -p "$cache"
export GST_PLUGIN_PATH="$build/plugin" OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
exec "$build/bench/bench-pipeline" "$here/../models/clar-default.safetensors" \
  "$cache/bench-${hours}h.ogg" "$hours" "$repeats"
