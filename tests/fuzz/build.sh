#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Builds the libFuzzer targets (fuzz-model, fuzz-labels) with clang,
# -fsanitize=fuzzer,address,undefined, compiling libclar's sources directly
# (no meson build needed). Usage: tests/fuzz/build.sh [OUTDIR]
# (default build-fuzz/ in the source root). Exit 77 when clang or libFuzzer
# is missing (meson's "skip").
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$src/build-fuzz}
CC=${CC:-$(command -v clang-14 || command -v clang || true)}
[ -n "$CC" ] || { echo "clang not found: fuzzers not built" >&2; exit 77; }
mkdir -p "$out/include/clar"
probe="$out/probe.c"
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n){return 0;}\n' > "$probe"
"$CC" -fsanitize=fuzzer "$probe" -o "$out/probe" 2>/dev/null \
  || { echo "$CC has no libFuzzer (Debian: libclang-rt-14-dev)" >&2; exit 77; }
rm -f "$probe" "$out/probe"

# version.h as meson generates it (include/clar/meson.build).
ver=$(sed -n "s/^ *version : '\([0-9.]*\)',/\1/p" "$src/meson.build")
IFS=. read -r maj min mic <<< "$ver"
sed -e "s/@CLAR_VERSION@/$ver/" -e "s/@CLAR_VERSION_MAJOR@/$maj/" \
    -e "s/@CLAR_VERSION_MINOR@/$min/" -e "s/@CLAR_VERSION_MICRO@/$mic/" \
    "$src/include/clar/version.h.in" > "$out/include/clar/version.h.tmp"
cmp -s "$out/include/clar/version.h.tmp" "$out/include/clar/version.h" 2>/dev/null \
  && rm "$out/include/clar/version.h.tmp" || mv "$out/include/clar/version.h.tmp" "$out/include/clar/version.h"

blas=$(pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
# CLAR_NO_CLONES: clang 14 emits no ifunc symbol for a target_clones
# function that its own translation unit does not call (vecmath.c), so the
# link fails; the fuzzers need no ISA dispatch.
flags=(-g -O1 -std=c99 -D_POSIX_C_SOURCE=200809L -DCLAR_BUILDING_LIB -DCLAR_NO_CLONES
  -fsanitize=address,undefined -fno-sanitize-recover=undefined
  -I"$out/include" -I"$src/include" -I"$src/src")
# Every libclar source (src/*.c): a list kept by hand fell behind twice as
# files were added (layers-ds, convkernel, wordnet) and the link failed.
libsrc=()
for f in "$src"/src/*.c; do
  f=${f##*/}
  libsrc+=("${f%.c}")
done

# libclar once, instrumented for coverage (fuzzer-no-link), then each target.
objs=()
for f in "${libsrc[@]}"; do
  o="$out/$f.o"
  if [ ! -f "$o" ] || [ "$src/src/$f.c" -nt "$o" ]; then
    "$CC" "${flags[@]}" -fsanitize=fuzzer-no-link -c "$src/src/$f.c" -o "$o"
  fi
  objs+=("$o")
done
for t in fuzz-model fuzz-labels; do
  "$CC" "${flags[@]}" -fsanitize=fuzzer "$src/tests/fuzz/$t.c" "${objs[@]}" \
    -o "$out/$t" $(pkg-config --libs fftw3) $blas -lm -lpthread -ldl
done
echo "built $out/fuzz-model $out/fuzz-labels" >&2
