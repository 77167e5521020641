#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Print the labels and embeddings clarembed reports for a file or the mic.

    clar-monitor.py FILE [MODEL]
    clar-monitor.py --mic [MODEL]

Needs python3-gi and gir1.2-gstreamer-1.0; the plugin must be on
GST_PLUGIN_PATH (e.g. run under `meson devenv -C _build`)."""
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402


def array_field(s, name):
    """A GstValueArray field as a Python list. gst_structure_get_array()
    converts it to a GValueArray, which PyGObject reads without the
    gst-python overrides."""
    ok, arr = s.get_array(name)
    if not ok:
        return []
    return [arr.get_nth(i) for i in range(arr.n_values)]


def main(argv):
    Gst.init(None)
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    model = f'model-location="{argv[2]}"' if len(argv) > 2 else ""
    if argv[1] == "--mic":
        src = "autoaudiosrc ! queue"
        sink = "fakesink sync=false"
    else:
        src = f'uridecodebin uri="{Gst.filename_to_uri(argv[1])}"'
        sink = "fakesink"
    pipe = Gst.parse_launch(
        f"{src} ! audioconvert ! audioresample ! clarembed {model} ! {sink}")
    loop = GLib.MainLoop()
    status = {"rc": 0, "windows": 0}

    def on_message(bus, msg):
        if msg.type == Gst.MessageType.ELEMENT:
            s = msg.get_structure()
            if s.get_name() != "clarembed":
                return
            ts = s.get_value("timestamp") / 1e9
            labels = array_field(s, "labels")
            scores = array_field(s, "scores")
            emb = array_field(s, "embedding")
            tops = ", ".join(f"{n} {p:.2f}" for n, p in zip(labels, scores))
            print(f"{ts:8.3f} s  {tops}  (|emb|={len(emb)})", flush=True)
            status["windows"] += 1
        elif msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            print(f"error: {err.message}\n{dbg}", file=sys.stderr)
            status["rc"] = 1
            loop.quit()
        elif msg.type == Gst.MessageType.EOS:
            loop.quit()

    bus = pipe.get_bus()
    bus.add_signal_watch()
    bus.connect("message", on_message)
    pipe.set_state(Gst.State.PLAYING)
    try:
        loop.run()
    except KeyboardInterrupt:
        pass
    pipe.set_state(Gst.State.NULL)
    print(f"{status['windows']} windows", file=sys.stderr)
    return status["rc"]


if __name__ == "__main__":
    sys.exit(main(sys.argv))
