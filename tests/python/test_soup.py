#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""tools/soup.py (weight-space interpolation of a model and its fine-tune):
alpha 0 and 1 give the two encoders back, 0.5 their mean; the text tower is
dropped and the label vectors are unit rows tied to the new encoder, so
libclar (clar-embed) loads the result and labels audio with it; files of
another label set and alphas outside [0, 1] are refused."""
import os
import subprocess
import sys
import tempfile
import wave

from clar_testutil import BUILD, ROOT, Checks, imports_or_skip

with imports_or_skip(pyclar=True):
    import numpy as np
    from clar.model import ModelFile

TOOL = os.path.join(ROOT, "tools", "soup.py")
MODEL = os.path.join(ROOT, "models", "clar-default.safetensors")
check = Checks()


def soup(a, b, out, *extra):
    return subprocess.run([sys.executable, TOOL, a, b, out, *extra], capture_output=True, text=True)


with tempfile.TemporaryDirectory() as tmp:
    a = ModelFile.load(MODEL)
    rng = np.random.default_rng(3)
    b = ModelFile.load(MODEL)
    b.metadata["clar.training_clips_md5"] = "0000000000000001,ffffffffffffffff"
    for k in b.tensors:
        if k.startswith("encoder.") or k == "labels.embeddings":
            b.tensors[k] = (b.tensors[k] + 0.01 * rng.standard_normal(b.tensors[k].shape)).astype(np.float32)
    pa, pb = MODEL, os.path.join(tmp, "b.safetensors")
    b.save(pb)
    enc = [k for k in a.tensors if k.startswith("encoder.")]
    outs = {}
    for alpha in ("0", "0.5", "1"):
        o = os.path.join(tmp, f"s{alpha}.safetensors")
        r = soup(pa, pb, o, "--alpha", alpha)
        check(f"alpha {alpha}: written", r.returncode == 0 and os.path.exists(o))
        outs[alpha] = ModelFile.load(o) if r.returncode == 0 else None
    s0, s5, s1 = outs["0"], outs["0.5"], outs["1"]
    if s0 and s5 and s1:
        check("alpha 0 is A's encoder", all(np.array_equal(s0.tensors[k], a.tensors[k]) for k in enc))
        check("alpha 1 is B's encoder", all(np.allclose(s1.tensors[k], b.tensors[k], atol=1e-7) for k in enc))
        check("alpha 0.5 is the mean", all(np.allclose(s5.tensors[k], (a.tensors[k] + b.tensors[k]) / 2,
                                                       atol=1e-6) for k in enc))
        check("the text tower is dropped", not s5.has_text)
        v = s5.tensors["labels.embeddings"]
        check("label vectors are unit rows", np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5))
        check("labels tied to the new encoder",
              s5.metadata["clar.labels.encoder_fingerprint"] == s5.fingerprint() != a.fingerprint())
        check("labels and front end kept", s5.metadata["clar.labels"] == a.metadata["clar.labels"] and
              np.array_equal(s5.tensors["frontend.mel_filterbank"], a.tensors["frontend.mel_filterbank"]))
        check("the recipe is recorded", "soup.py" in s5.metadata.get("clar.training", ""))
        own = set(a.metadata.get("clar.training_clips_md5", "").split(",")) - {""}
        got = s5.metadata.get("clar.training_clips_md5", "").split(",")
        check("the training clips of both models are listed, sorted",
              set(got) == own | {"0000000000000001", "ffffffffffffffff"} and got == sorted(got))
    # libclar loads it and labels a tone with it.
    embed = os.path.join(BUILD, "tools", "clar-embed") if BUILD else None
    if embed and os.path.exists(embed) and s5:
        wav = os.path.join(tmp, "tone.wav")
        t = np.arange(32000) / 16000.0
        pcm = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
        with wave.open(wav, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(pcm.tobytes())
        r = subprocess.run([embed, "--model", os.path.join(tmp, "s0.5.safetensors"), wav],
                           capture_output=True, text=True)
        ok = r.returncode == 0 and '"labels":[{"name":"' in r.stdout
        if not ok:
            print(f"clar-embed exit {r.returncode}:\n{r.stderr[-2000:]}")
        check("clar-embed labels audio with the result", ok)
    else:
        print("no clar-embed in the build tree: its check is skipped")
    # Refusals.
    c = ModelFile.load(pb)
    names, vec, scale = c.labels
    c.set_labels(names[:-1], vec[:-1], scale)
    pc = os.path.join(tmp, "c.safetensors")
    c.save(pc)
    r = soup(pa, pc, os.path.join(tmp, "x.safetensors"))
    check("another label set refused", r.returncode != 0 and "clar.labels differs" in r.stderr
          and not os.path.exists(os.path.join(tmp, "x.safetensors")))
    r = soup(pa, pb, os.path.join(tmp, "y.safetensors"), "--alpha", "1.5")
    check("alpha outside [0, 1] refused", r.returncode != 0 and "not in [0, 1]" in r.stderr)
check.exit()
