#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# run-if-cpu-flag.sh FLAG PROGRAM...: runs PROGRAM only if /proc/cpuinfo lists
# FLAG (forcing an OpenBLAS kernel the CPU lacks would crash), else skips (77).
flag=$1; shift
grep -qw "$flag" /proc/cpuinfo 2>/dev/null || { echo "CPU lacks $flag: skipped"; exit 77; }
exec "$@"
