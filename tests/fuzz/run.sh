#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Quick fuzz run for CI (meson suite "fuzz"): builds the targets with
# build.sh, replays every committed crash reproducer (regressions/), then
# fuzzes each target for SECONDS/2 from a scratch copy of the committed
# corpus (the committed corpus is not modified). Exit 77 without clang or
# libFuzzer. Usage: tests/fuzz/run.sh OUTDIR [SECONDS]   (default 60)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: run.sh OUTDIR [SECONDS]}
total=${2:-60}
"$here/build.sh" "$out" || exit $?
text_model="$here/corpus/model/tiny-text-small"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for t in model labels; do
  env=()
  [ "$t" = labels ] && env=(CLAR_FUZZ_TEXT_MODEL="$text_model")
  # Reproducers: each must now run clean (libFuzzer runs the files given).
  repro=("$here/regressions/$t"/*)
  if [ -e "${repro[0]}" ]; then
    env "${env[@]}" "$out/fuzz-$t" -runs=1 "${repro[@]}" 2>"$out/regressions-$t.log" \
      || { tail -40 "$out/regressions-$t.log"; echo "fuzz-$t: a reproducer fails again" >&2; exit 1; }
  fi
  work="$out/corpus-$t-ci"
  rm -rf "$work" && mkdir -p "$work"
  cp "$here/corpus/$t"/* "$work/"
  env "${env[@]}" "$out/fuzz-$t" -max_total_time=$((total / 2)) -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="$out/crash-$t-" -print_final_stats=1 \
    "$work" 2>"$out/fuzz-$t.log" \
    || { tail -60 "$out/fuzz-$t.log"; echo "fuzz-$t found a failure (artifact in $out)" >&2; exit 1; }
  grep -E '^(stat::number_of_executed_units|Done)' "$out/fuzz-$t.log" | sed "s/^/fuzz-$t: /"
done
