#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Not a benchmark and no timing is judged: checks that bench-pipeline runs
# end to end on a short file (36 s of audio, one round) and that the counts
# it reports are those of the stream, so the figures in bench/README.md
# come from a program that works.
#   smoke-pipeline.sh BENCH_EXE MODEL WORK_DIR
set -eu
exe=$1 model=$2 dir=$3
mkdir -p "$dir"
out=$("$exe" "$model" "$dir/bench-smoke.ogg" 0.01 1)
printf '%s\n' "$out"
get () { printf '%s\n' "$out" | awk -v k="$1" '$1 == k { print $2 }'; }
fail=0
expect () { # key, lowest, highest
  v=$(get "$1")
  if [ -z "$v" ] || [ "$v" -lt "$2" ] || [ "$v" -gt "$3" ]; then
    echo "FAIL: $1 = '${v}', expected $2..$3"; fail=1
  fi
}
# 36 s at window 1 s, hop 0.5 s: 71 full windows, plus the zero-padded
# last one at EOS.
expect file_windows 71 72
# Two 30 s segments: 59 full windows each plus the one flushed at EOS.
expect element_windows 120 120
expect nonlive_latency_windows 120 120
# 1000 live buffers of 10 ms.
expect live_latency_windows 19 20
expect clarembed_instances 11 11
expect model_loads_for_instances 1 1
for k in file_rtf element_overhead_pct nonlive_latency_mean_ms rss_per_extra_clarembed_kb; do
  case "$(get $k)" in
    ''|*nan*|*inf*) echo "FAIL: $k = '$(get $k)'"; fail=1 ;;
  esac
done
# Both post costs printed, as positive numbers.
printf '%s\n' "$out" | awk '$1 == "bus_post_us" && $2 == "reader_asleep" && $3 > 0 &&
  $4 == "reader_running" && $5 > 0 { ok = 1 } END { exit !ok }' ||
  { echo "FAIL: no valid bus_post_us line"; fail=1; }
exit $fail
