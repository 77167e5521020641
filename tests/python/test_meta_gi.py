#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""PyGObject reads every window's GstClarMeta in a pad probe through the
GstClar-1.0 typelib (issue 17 item 4), and what it reads equals the bus
message of the same window: index, timestamp, duration, labels, scores,
similarities and embedding. Then examples/clar-monitor.py runs and prints
the meta lines. Skips (77) without python3-gi or the typelib."""
import os
import subprocess
import sys

from clar_testutil import ROOT, SKIP, Checks

try:
    import gi
    gi.require_version("Gst", "1.0")
    gi.require_version("GstClar", "1.0")
    from gi.repository import GLib, Gst, GstClar
except (ImportError, ValueError) as e:
    print(f"no PyGObject or GstClar typelib ({e}): skipped")
    sys.exit(SKIP)


def array_field(s, name):
    ok, arr = s.get_array(name)
    return [arr.get_nth(i) for i in range(arr.n_values)] if ok else None


def main():
    Gst.init(None)
    model = os.environ["CLAR_TEST_MODEL"]
    pipe = Gst.parse_launch(
        "audiotestsrc wave=pink-noise num-buffers=25 samplesperbuffer=1600 ! "
        "audio/x-raw,rate=16000,channels=1 ! audioconvert ! "
        f'clarembed name=embed model-location="{model}" ! fakesink')
    metas, msgs = [], []

    def probe(pad, info):
        for m in GstClar.buffer_get_metas(info.get_buffer()):
            ok, name, score, sim = m.get_label(0)
            s = m.to_structure()
            metas.append({
                "index": m.window_index, "ts": m.timestamp, "dur": m.duration,
                "emb": list(m.get_embedding()), "n_labels": m.n_labels,
                "best": (name, score, sim) if ok else None,
                "no_label_past_end": not m.get_label(m.n_labels)[0],
                "s_index": s.get_value("window-index"),
                "labels": array_field(s, "labels"), "scores": array_field(s, "scores"),
                "sims": array_field(s, "similarities"), "s_emb": array_field(s, "embedding"),
            })
        return Gst.PadProbeReturn.OK

    pipe.get_by_name("embed").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, probe)
    pipe.set_state(Gst.State.PLAYING)
    bus = pipe.get_bus()
    while True:
        msg = bus.timed_pop_filtered(
            30 * Gst.SECOND,
            Gst.MessageType.ELEMENT | Gst.MessageType.EOS | Gst.MessageType.ERROR)
        if msg is None or msg.type != Gst.MessageType.ELEMENT:
            break
        s = msg.get_structure()
        if s.get_name() == "clarembed" and not s.get_value("padded"):
            msgs.append({"index": s.get_value("window-index"), "ts": s.get_value("timestamp"),
                         "dur": s.get_value("duration"), "labels": array_field(s, "labels"),
                         "scores": array_field(s, "scores"), "emb": array_field(s, "embedding")})
    pipe.set_state(Gst.State.NULL)
    check = Checks()

    check(f"metas read in the probe ({len(metas)}) for each full window on the bus "
          f"({len(msgs)})", len(metas) >= 3 and len(metas) >= len(msgs))
    by_index = {m["index"]: m for m in metas}
    for b in msgs:
        m = by_index.get(b["index"])
        if m is None:
            check(f"window {b['index']}: a meta", False)
            continue
        same = (m["ts"] == b["ts"] and m["dur"] == b["dur"] and m["labels"] == b["labels"]
                and m["scores"] == b["scores"] and m["s_index"] == b["index"]
                and len(m["emb"]) == len(b["emb"]) == 128
                and max(abs(x - y) for x, y in zip(m["emb"], b["emb"])) == 0.0
                and m["s_emb"] == m["emb"] and m["best"] is not None
                and m["best"][0] == b["labels"][0] and m["best"][1] == b["scores"][0]
                and -1.0 <= m["best"][2] <= 1.0 and m["sims"][0] == m["best"][2]
                and m["n_labels"] == len(b["labels"]) and m["no_label_past_end"])
        check(f"window {b['index']}: meta == bus message", same)

    # The example itself prints meta lines under the same environment.
    wav = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"clar-meta-gi-{os.getpid()}.wav")
    subprocess.run(["gst-launch-1.0", "-q", "audiotestsrc", "num-buffers=20",
                    "samplesperbuffer=1600", "!", "audio/x-raw,rate=16000,channels=1", "!",
                    "wavenc", "!", "filesink", f"location={wav}"], check=True)
    ex = os.path.join(ROOT, "examples", "clar-monitor.py")
    out = subprocess.run([sys.executable, ex, wav, model], capture_output=True, text=True,
                         timeout=120)
    os.unlink(wav)
    meta_lines = [ln for ln in out.stdout.splitlines() if ln.startswith("meta ")]
    check(f"examples/clar-monitor.py prints the metas ({len(meta_lines)} meta lines, rc "
          f"{out.returncode})", out.returncode == 0 and len(meta_lines) >= 3
          and "|emb|=128" in meta_lines[0])
    return 1 if check.fails else 0


if __name__ == "__main__":
    sys.exit(main())
