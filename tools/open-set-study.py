#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Open-set study: how close (cosine) do windows come to the nearest label
when their sound is one of the labels, and when it is not? And how loud are
the windows the model labels right? The figures behind clarembed's
min-similarity and min-rms defaults (README "Open set").

    tools/open-set-study.py [BUILD_DIR] [MODEL]

Clips are generated here (none is in the training data): espeak-ng words
of the model's vocabulary in voices held out of training and words outside
it, fluidsynth notes (flute, piano, organ) with their decaying tails, pink
noise, sine tones. Each runs through
`filesrc ! decodebin ! audioconvert ! audioresample ! clarembed ! fakesink`
with min-similarity=-1 and min-rms=0 (nothing hidden), with the model's
head and with the zero-shot prompts "a dog barking;banana;a flute note"
of issue 17. Prints per-window best cosine similarity (max-similarity) and
RMS, per group, then the share of in-set windows kept and out-of-set
windows rejected at each min-similarity, and the RMS of the windows the
head labels right. Needs python3-gi, espeak-ng, fluidsynth, sox."""
import os
import subprocess
import sys
import tempfile
import warnings

import gi

warnings.simplefilter("ignore", DeprecationWarning)   # GValueArray.get_nth
gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SF2 = "/usr/share/sounds/sf2/FluidR3_GM.sf2"


def sh(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})


def make_clips(d):
    """(name, path, head truth or None when out of the head's set)."""
    clips = []
    for voice in ("en-gb-scotland", "en-us+f3"):
        for w in ("seven", "yes", "stop", "left", "three"):
            p = f"{d}/w-{w}-{voice}.wav"
            sh("espeak-ng", "-v", voice, "-w", p, w)
            clips.append((f"word {w} ({voice})", p, w))
        for w in ("banana", "elephant", "computer", "hello how are you today",
                  "the weather is nice"):
            p = f"{d}/o-{w.replace(' ', '_')}-{voice}.wav"
            sh("espeak-ng", "-v", voice, "-w", p, w)
            clips.append((f"speech '{w}' ({voice})", p, None))
    for prog, fam, pitch in ((73, "flute", 72), (73, "flute", 79), (0, "keyboard", 60),
                             (0, "keyboard", 67), (19, "organ", 62)):
        mid, wav = f"{d}/n{prog}-{pitch}.mid", f"{d}/n{prog}-{pitch}.wav"
        sh(sys.executable, os.path.join(HERE, "data", "midi.py"), mid, str(prog), str(pitch),
           "100", "1.5")
        sh("fluidsynth", "-q", "-ni", "-F", wav, "-r", "16000", SF2, mid)
        clips.append((f"{fam} note (GM {prog}, key {pitch})", wav, fam))
    for i, vol in enumerate(("0.3", "0.05")):
        p = f"{d}/pink{i}.wav"
        sh("sox", "-R", "-n", "-r", "16000", "-c", "1", p, "synth", "2.0", "pinknoise", "vol", vol)
        clips.append((f"pink noise vol {vol}", p, "noise"))
    for f in (1000, 3000):
        p = f"{d}/sine{f}.wav"
        sh("sox", "-R", "-n", "-r", "16000", "-c", "1", p, "synth", "2.0", "sine", str(f), "vol", "0.3")
        clips.append((f"sine {f} Hz", p, None))
    return clips


def windows(path, model, labels=None):
    extra = f'labels="{labels}"' if labels else ""
    pipe = Gst.parse_launch(
        f'filesrc location="{path}" ! decodebin ! audioconvert ! audioresample ! '
        f'clarembed model-location="{model}" min-similarity=-1 min-rms=0 '
        f'message-embedding=false top-k=1 {extra} ! fakesink')
    bus = pipe.get_bus()
    pipe.set_state(Gst.State.PLAYING)
    out = []
    while True:
        m = bus.timed_pop_filtered(60 * Gst.SECOND, Gst.MessageType.ELEMENT
                                   | Gst.MessageType.EOS | Gst.MessageType.ERROR)
        if m is None or m.type == Gst.MessageType.EOS:
            break
        if m.type == Gst.MessageType.ERROR:
            raise RuntimeError(m.parse_error()[0].message)
        s = m.get_structure()
        if s.get_name() != "clarembed":
            continue
        ok, arr = s.get_array("labels")
        label = arr.get_nth(0) if ok and arr.n_values else None
        out.append((s.get_value("rms"), s.get_value("max-similarity"), label))
    pipe.set_state(Gst.State.NULL)
    return out


def summary(name, sims):
    sims = sorted(sims)
    if not sims:
        return f"{name:44s} (none)"
    q = lambda f: sims[min(len(sims) - 1, int(f * len(sims)))]  # noqa: E731
    return (f"{name:44s} n={len(sims):3d} min {sims[0]:.3f}  p10 {q(0.1):.3f}  "
            f"median {q(0.5):.3f}  max {sims[-1]:.3f}")


def sweep(title, ins, outs):
    print(f"\n{title}: share kept (in-set, right label) / rejected (out-of-set)")
    for t in (0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9):
        kept = sum(s >= t for s in ins) / max(1, len(ins))
        rej = sum(s < t for s in outs) / max(1, len(outs))
        print(f"  min-similarity {t:.2f}: kept {kept:.2f}  rejected {rej:.2f}")


def main(argv):
    build = argv[1] if len(argv) > 1 else os.path.join(HERE, "..", "_build")
    model = argv[2] if len(argv) > 2 else os.path.join(HERE, "..", "models",
                                                       "clar-default.safetensors")
    os.environ["GST_PLUGIN_PATH"] = os.path.join(os.path.abspath(build), "plugin")
    Gst.init(None)
    with tempfile.TemporaryDirectory() as d:
        clips = make_clips(d)
        # Head: in-set windows the head labels right vs out-of-set windows;
        # only windows with sound (rms > 1e-3), so that decay tails do not
        # count as either.
        ins, outs, right_rms, wrong_tail = [], [], [], []
        print("head: per clip, windows with rms > 1e-3")
        for name, path, truth in clips:
            w = windows(path, model)
            loud = [x for x in w if x[0] > 1e-3]
            if truth:
                ins += [s for r, s, lab in loud if lab == truth]
                right_rms += [r for r, s, lab in w if lab == truth]
            else:
                outs += [s for r, s, lab in loud]
            wrong_tail += [(r, lab) for r, s, lab in w if truth and lab != truth and r <= 1e-3]
            labs = ", ".join(f"{lab}" for r, s, lab in loud)
            print(summary(name, [s for r, s, lab in loud]) + f"  [{labs}]")
        print(summary("ALL in-set, right label", ins))
        print(summary("ALL out-of-set", outs))
        sweep("head", ins, outs)
        right_rms.sort()
        print(f"\nRMS of windows the head labels right: min {right_rms[0]:.2e}, "
              f"10th percentile {right_rms[len(right_rms) // 10]:.2e}, n={len(right_rms)}")
        print(f"windows of in-set clips with rms <= 1e-3 (decay tails): {len(wrong_tail)}, "
              f"labels: {sorted(set(l for r, l in wrong_tail))}")
        for t in (1e-5, 1e-4, 3e-4, 1e-3):
            print(f"  min-rms {t:.0e}: {sum(r < t for r, l in wrong_tail)} of those tails silent, "
                  f"{sum(r < t for r in right_rms)} of the right-labelled windows silent")
        # Zero-shot prompts of the issue: a flute note is in the set, pink
        # noise and speech are not.
        prompts = "a dog barking;banana;a flute note"
        zin, zout = [], []
        for name, path, truth in clips:
            w = [x for x in windows(path, model, prompts) if x[0] > 1e-3]
            if truth == "flute":
                zin += [s for r, s, lab in w if lab == "a flute note"]
            elif truth in ("noise",) or name.startswith("speech") or name.startswith("word"):
                zout += [s for r, s, lab in w]
        print(f"\nzero-shot prompts \"{prompts}\"")
        print(summary("flute notes labelled 'a flute note'", zin))
        print(summary("pink noise and speech (out of the set)", zout))
        sweep("zero-shot", zin, zout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
