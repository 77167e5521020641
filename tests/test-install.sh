#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# An install to a prefix the system does not know works with nothing but
# GST_PLUGIN_PATH (issue 17 item 3, README "Installing"): `meson install
# --destdir` stages this build into a temporary folder, LD_LIBRARY_PATH
# (which meson test sets to the build tree) is removed, and then
# gst-inspect-1.0 finds clarembed, a pipeline through it posts its messages,
# and the installed clar-embed and clar-fingerprint run. The plugin and the
# tools find libgstclarmeta and libclar through their $ORIGIN RUNPATH.
set -u
: "${CLAR_BUILD_ROOT:?run through meson test}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
check () { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails+1)); fi; }

prefix=$(meson introspect "$CLAR_BUILD_ROOT" --buildoptions \
  | python3 -c 'import json,sys; print({o["name"]: o["value"] for o in json.load(sys.stdin)}["prefix"])')
libdir=$(meson introspect "$CLAR_BUILD_ROOT" --buildoptions \
  | python3 -c 'import json,sys; print({o["name"]: o["value"] for o in json.load(sys.stdin)}["libdir"])')
if [ "$prefix" = /usr ]; then echo "prefix /usr needs no RUNPATH: skipped"; exit 77; fi
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
meson install -C "$CLAR_BUILD_ROOT" --destdir "$tmp/stage" --no-rebuild --quiet > "$tmp/install.log" 2>&1 \
  || { cat "$tmp/install.log"; echo "FAIL meson install"; exit 1; }
# Move the staged tree once more: nothing may depend on where it was put.
mv "$tmp/stage" "$tmp/moved"
root=$tmp/moved$prefix
plugins=$tmp/moved$libdir/gstreamer-1.0
model=$root/share/gst-clar/models/clar-default.safetensors
check "plugin, libraries, tools and model installed" \
  "[ -f '$plugins/libgstclar.so' ] && [ -x '$root/bin/clar-embed' ] && [ -f '$model' ] \
   && ls '$tmp/moved$libdir'/libclar.so.* '$tmp/moved$libdir'/libgstclarmeta-1.0.so.* >/dev/null"

run () { env -u LD_LIBRARY_PATH -u CLAR_MODEL -u GST_PLUGIN_SYSTEM_PATH GST_PLUGIN_PATH="$plugins" \
  GST_REGISTRY_1_0="$tmp/registry.bin" "$@"; }
run gst-inspect-1.0 clarembed > "$tmp/inspect.txt" 2>&1
check "gst-inspect-1.0 clarembed (only GST_PLUGIN_PATH set)" \
  "[ $? -eq 0 ] && grep -q 'model-location' '$tmp/inspect.txt' \
   && ! grep -qi 'cannot open shared object' '$tmp/inspect.txt'"
run gst-launch-1.0 -m audiotestsrc num-buffers=40 samplesperbuffer=1600 ! \
  audio/x-raw,rate=16000,channels=1 ! audioconvert ! audioresample ! \
  clarembed model-location="$model" message-embedding=false ! fakesink > "$tmp/launch.txt" 2>&1
check "pipeline through the installed clarembed posts window messages" \
  "[ $? -eq 0 ] && [ \$(grep -c 'window-index=(guint64)' '$tmp/launch.txt') -ge 6 ]"
gst-launch-1.0 -q audiotestsrc num-buffers=20 samplesperbuffer=1600 ! \
  audio/x-raw,rate=16000,channels=1 ! wavenc ! filesink location="$tmp/tone.wav"
run "$root/bin/clar-embed" --model "$model" "$tmp/tone.wav" > "$tmp/embed.json" 2> "$tmp/embed.err"
check "installed clar-embed runs (libclar through RUNPATH)" \
  "[ $? -eq 0 ] && grep -q '\"labels\"' '$tmp/embed.json'"
run "$root/bin/clar-fingerprint" "$model" > /dev/null 2>&1
check "installed clar-fingerprint runs" "[ $? -eq 0 ]"
exit $((fails > 0))
