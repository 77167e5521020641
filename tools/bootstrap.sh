#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# One entry point for a fresh Debian 12 machine:
#   tools/bootstrap.sh demo   install what is missing, build, run a real pipeline on
#                             the shipped default model and print labels/embeddings
#   tools/bootstrap.sh test   install what is missing, build, run every test and
#                             print "N passed, N failed, N skipped"
#   tools/bootstrap.sh deps   only install the Debian packages
#   tools/bootstrap.sh build  install + build only
# Environment: BUILD_DIR (default _build), CLAR_NO_APT=1 to skip apt-get.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
BUILD_DIR=${BUILD_DIR:-_build}

# Packages needed to build and run (demo) and, in addition, to test.
BUILD_PKGS="meson ninja-build pkg-config gcc libc6-dev libglib2.0-dev libgstreamer1.0-dev
  libgstreamer-plugins-base1.0-dev libfftw3-dev libopenblas-dev
  gobject-introspection libgirepository1.0-dev libmosquitto-dev
  libsndfile1-dev libopus-dev libvorbis-dev libgsm1-dev"
RUN_PKGS="gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  espeak-ng fluidsynth fluid-soundfont-gm sox wordnet-base"
TEST_PKGS="festival festvox-kdlpc16k timidity freepats stk python3 python3-numpy python3-torch python3-torchaudio python3-onnx python3-gi flite libsox-fmt-all
  gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 valgrind libblis-dev clang-14 libclang-rt-14-dev
  mosquitto mosquitto-clients openssl"

log () { printf '[bootstrap] %s\n' "$*" >&2; }

install_pkgs () {
  [ "${CLAR_NO_APT:-0}" = 1 ] && return 0
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && { log "all Debian packages present"; return 0; }
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing: ${missing[*]}"
  $sudo apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

build () {
  if [ -f "$BUILD_DIR/build.ninja" ]; then
    meson setup --reconfigure "$BUILD_DIR" >/dev/null
  else
    meson setup "$BUILD_DIR" >/dev/null
  fi
  ninja -C "$BUILD_DIR" >/dev/null || ninja -C "$BUILD_DIR"
  log "built in $BUILD_DIR"
}

# Prints "N passed, N failed, N skipped" from meson's machine-readable logs
# (the main build and, when it ran, the sanitizer build).
summarise () {
  local json="$BUILD_DIR/meson-logs/testlog.json" asan="${BUILD_DIR}-sanitize/meson-logs/testlog.json"
  local blis="${BUILD_DIR}-blis/meson-logs/testlog.json"
  local pre="${BUILD_DIR}-sanitize/meson-logs/preloaded.json"
  local vg="$BUILD_DIR/meson-logs/valgrind.json"
  local missing=0
  # Every stage that ran must have left its log: a run that crashed before
  # writing one counts as a failure, never as silence.
  [ -f "$json" ] || missing=$((missing + 1))
  if [ "${CLAR_NO_SANITIZE:-0}" != 1 ]; then
    [ -f "$asan" ] || { missing=$((missing + 1)); asan=; }
    [ -f "$pre" ] || { missing=$((missing + 1)); pre=; }
  else
    asan= pre=
  fi
  if [ "${CLAR_NO_VALGRIND:-0}" != 1 ]; then
    [ -f "$vg" ] || { missing=$((missing + 1)); vg=; }
  else
    vg=
  fi
  if [ "${CLAR_NO_BLIS:-0}" != 1 ]; then
    [ -f "$blis" ] || { missing=$((missing + 1)); blis=; }
  else
    blis=
  fi
  [ $missing -eq 0 ] || echo "[bootstrap] $missing test stage(s) left no results" >&2
  cat /dev/null $( [ -f "$json" ] && echo "$json") $asan $pre $vg $blis | awk -v missing=$missing '
    /"result": *"(OK|EXPECTEDFAIL)"/ { p++ }
    /"result": *"(FAIL|ERROR|TIMEOUT|UNEXPECTEDPASS)"/ { f++ }
    /"result": *"SKIP"/ { s++ }
    END { f += missing; printf "%d passed, %d failed, %d skipped\n", p, f, s; exit (f > 0) }'
}

cmd=${1:-}
case "$cmd" in
  deps)
    install_pkgs $BUILD_PKGS $RUN_PKGS $TEST_PKGS ;;
  build)
    install_pkgs $BUILD_PKGS $RUN_PKGS
    build ;;
  demo)
    install_pkgs $BUILD_PKGS $RUN_PKGS
    build
    exec tools/demo.sh "$BUILD_DIR" ;;
  test)
    install_pkgs $BUILD_PKGS $RUN_PKGS $TEST_PKGS
    build
    # Stale results of an earlier run must not count (summarise reads these).
    rm -f "$BUILD_DIR/meson-logs/testlog.json" "${BUILD_DIR}-sanitize/meson-logs/testlog.json" \
      "${BUILD_DIR}-sanitize/meson-logs/preloaded.json" "${BUILD_DIR}-blis/meson-logs/testlog.json" \
      "$BUILD_DIR/meson-logs/valgrind.json"
    set +e
    meson test -C "$BUILD_DIR" --num-processes 2 --print-errorlogs ${MESON_TEST_ARGS:-}
    set -e
    # The C suites again under AddressSanitizer + UndefinedBehaviorSanitizer
    # (in-process registry scan: gst-plugin-scanner is not instrumented).
    # Then the reference and integration suites, whose programs are not
    # instrumented (python3, gst-launch-1.0, shell scripts) but load the
    # instrumented libclar, plugin and tools: the sanitizer runtimes are
    # preloaded, leak checking is off (the interpreters' own allocations are
    # not ours; the C suites above check leaks), time limits x4.
    # Not here: data (no code of ours), fuzz (its own ASan+UBSan clang
    # build, tests/fuzz/build.sh), valgrind (memcheck cannot run ASan
    # binaries: it runs on the main build, below).
    if [ "${CLAR_NO_SANITIZE:-0}" != 1 ]; then
      asan=${BUILD_DIR}-sanitize
      # debugoptimized (-O2 -g; set by the configure below, which also
      # switches an existing build): ASan's documentation asks for -O1 or more
      # for a reasonable speed. At -O0 this stage's slowest tests took, on a
      # 2-core Intel Xeon (CPUID model 167), test-clap-e2e 554 s, test-data-
      # split 203 s, test-train-e2e 146 s, soak-short 112 s; at -O2 388, 31,
      # 84 and 25 s (the whole .ci/run took 1,683 s at -O0).
      [ -f "$asan/build.ninja" ] || meson setup "$asan" -Db_sanitize=address,undefined \
        -Db_lundef=false >/dev/null
      # No GObject-Introspection data here: g-ir-scanner runs a dumper linked
      # against the instrumented library; the typelib and its test
      # (test_meta_gi) run on the main build.
      meson configure "$asan" -Dintrospection=disabled -Dbuildtype=debugoptimized >/dev/null
      ninja -C "$asan" >/dev/null || ninja -C "$asan"
      set +e
      GST_REGISTRY_FORK=no UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        meson test -C "$asan" --suite core --suite train --suite element --suite soak \
        --num-processes 2 \
        --print-errorlogs
      GST_REGISTRY_FORK=no ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
        meson test -C "$asan" --suite reference --suite integration --num-processes 2 \
        --timeout-multiplier 4 --logbase preloaded --print-errorlogs
      set -e
    fi
    # The element tests under valgrind memcheck (suite valgrind, left out of
    # a plain `meson test`: about 5 minutes): no memcheck error, no block
    # definitely lost. CLAR_NO_VALGRIND=1 skips this stage.
    if [ "${CLAR_NO_VALGRIND:-0}" != 1 ]; then
      set +e
      meson test -C "$BUILD_DIR" --suite valgrind --num-processes 2 --logbase valgrind --print-errorlogs
      set -e
    fi
    # The core suites once more against BLIS (-Dblas=blis), the documented
    # alternative to an OpenBLAS that runs a generic kernel on this CPU.
    if [ "${CLAR_NO_BLIS:-0}" != 1 ]; then
      blis=${BUILD_DIR}-blis
      [ -f "$blis/build.ninja" ] || meson setup "$blis" -Dblas=blis -Dplugin=disabled >/dev/null
      ninja -C "$blis" >/dev/null || ninja -C "$blis"
      set +e
      meson test -C "$blis" --suite core --num-processes 2 --print-errorlogs
      set -e
    fi
    summarise ;;
  *)
    echo "usage: tools/bootstrap.sh demo|test|deps|build" >&2
    exit 2 ;;
esac
