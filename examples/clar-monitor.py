#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Print the labels and embeddings clarembed reports for a file or the mic,
from the bus messages and from the GstClarMeta on the buffers.

    clar-monitor.py FILE [MODEL]
    clar-monitor.py --mic [MODEL]

Needs python3-gi and gir1.2-gstreamer-1.0; the plugin must be on
GST_PLUGIN_PATH and the GstClar-1.0 typelib (built with the meta library)
on GI_TYPELIB_PATH: `meson devenv -C _build -w . python3
examples/clar-monitor.py FILE` sets both. Without the typelib the metas are
only counted."""
import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

try:
    gi.require_version("GstClar", "1.0")
    from gi.repository import GstClar  # noqa: E402
except (ValueError, ImportError):
    GstClar = None


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
    try:
        pipe = Gst.parse_launch(
            f"{src} ! audioconvert ! audioresample ! clarembed name=embed {model} ! {sink}")
    except GLib.Error as e:
        print(f"pipeline: {e.message}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    status = {"rc": 0, "windows": 0, "metas": 0, "final": 0}

    def on_buffer(pad, info):
        """Pad probe after clarembed: each window's result as a GstClarMeta
        on the buffer that completed it (GstClar typelib)."""
        buf = info.get_buffer()
        if GstClar is None:
            status["metas"] += 1 if buf.get_meta("GstClarMetaAPI") else 0
            return Gst.PadProbeReturn.OK
        for m in GstClar.buffer_get_metas(buf):
            ok, name, score, sim = m.get_label(0)
            best = f"{name} {score:.2f} (cos {sim:.2f})" if ok else "-"
            # One write per line: the probe runs on the streaming thread,
            # the bus handler on the main loop's.
            sys.stdout.write(f"meta {m.timestamp / 1e9:8.3f} s  window {m.window_index}  "
                             f"{best}  |emb|={len(m.get_embedding())}\n")
            sys.stdout.flush()
            status["metas"] += 1
        return Gst.PadProbeReturn.OK

    def on_event(pad, info):
        """A final partial window (EOS, DISCONT, caps change) has no buffer of
        its own: its result follows its audio as a custom downstream event
        named "clarembed-window" (clar/gstclarmeta.h). A clip shorter than
        one window has only this one."""
        ev = info.get_event()
        if ev.type == Gst.EventType.CUSTOM_DOWNSTREAM and ev.has_name("clarembed-window"):
            s = ev.get_structure()
            sys.stdout.write(f"final {s.get_value('timestamp') / 1e9:8.3f} s  "
                             f"window {s.get_value('window-index')}  (zero-padded)\n")
            sys.stdout.flush()
            status["final"] += 1
        return Gst.PadProbeReturn.OK

    src = pipe.get_by_name("embed").get_static_pad("src")
    src.add_probe(Gst.PadProbeType.BUFFER, on_buffer)
    src.add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, on_event)

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
            pad = "  (final, zero-padded)" if s.get_value("padded") else ""
            sys.stdout.write(f"bus  {ts:8.3f} s  {tops}  (|emb|={len(emb)}){pad}\n")
            sys.stdout.flush()
            status["windows"] += 1
        elif msg.type == Gst.MessageType.WARNING:
            err, dbg = msg.parse_warning()
            print(f"warning: {err.message}", file=sys.stderr)
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
    if pipe.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
        status["rc"] = 1
    else:
        try:
            loop.run()
        except KeyboardInterrupt:
            pass
    pipe.set_state(Gst.State.NULL)
    print(f"{status['windows']} windows on the bus, {status['metas']} carried a GstClarMeta, "
          f"{status['final']} came as a final clarembed-window event", file=sys.stderr)
    return status["rc"]


if __name__ == "__main__":
    sys.exit(main(sys.argv))
