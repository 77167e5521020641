#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Runs one element test under valgrind memcheck (suite "valgrind"):
#   valgrind.sh TEST_EXECUTABLE
# in-process (CK_FORK=no, so leaks in the test bodies count), plain malloc
# (G_SLICE=always-malloc), glib's suppressions plus gst.supp beside this
# script; fails on any memcheck error or any "definitely lost" block
# (GStreamer's one-time type and registry allocations are "still
# reachable" or "possibly lost" and are not counted). Skips (77) without
# valgrind. The NULL<->PLAYING loop runs 100 cycles here (CLAR_TEST_STATE_CYCLES).
set -u
here=$(cd "$(dirname "$0")" && pwd)
command -v valgrind >/dev/null || { echo "valgrind not installed" >&2; exit 77; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
CK_FORK=no G_SLICE=always-malloc CLAR_TEST_STATE_CYCLES=${CLAR_TEST_STATE_CYCLES:-100} \
  valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=9 \
  --num-callers=30 --suppressions=/usr/share/glib-2.0/valgrind/glib.supp \
  --suppressions="$here/gst.supp" "$@" >"$log" 2>&1
rc=$?
grep -E "Checks:|definitely lost:|indirectly lost:|ERROR SUMMARY" "$log"
if [ $rc -ne 0 ] || ! grep -qE "definitely lost: 0 bytes|All heap blocks were freed" "$log"; then
  tail -150 "$log"
  echo "valgrind: exit $rc (9 = memcheck errors or definite leaks)" >&2
  exit 1
fi
