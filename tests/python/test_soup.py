#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""tools/soup.py (weight averages of fine-tunes of one start): alpha 0 and 1
give the two encoders back, 0.5 their mean; three inputs give their uniform
mean, or the mean under --weights divided by their sum; the text tower is
dropped and the label vectors are unit rows tied to the new encoder, so
libclar (clar-embed) loads the result and labels audio with it; the same
labels in another order are matched by name; files of another label set,
alphas outside [0, 1], --alpha with three inputs, weights of the wrong
count or sign, and an output that is an input are refused."""
import os
import subprocess
import tempfile
import wave

from clar_testutil import BUILD, DEFAULT_MODEL as MODEL, Checks, imports_or_skip, run_tool

with imports_or_skip(pyclar=True):
    import numpy as np
    from clar.model import ModelFile

check = Checks()


def soup(*args):
    return run_tool("soup.py", *args)


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
    # Three inputs: uniform by default, --weights normalised.
    c3 = ModelFile.load(MODEL)
    c3.metadata["clar.training_clips_md5"] = "0000000000000002"
    for k in c3.tensors:
        if k.startswith("encoder.") or k == "labels.embeddings":
            c3.tensors[k] = (c3.tensors[k] + 0.01 * rng.standard_normal(c3.tensors[k].shape)).astype(np.float32)
    pc3 = os.path.join(tmp, "c3.safetensors")
    c3.save(pc3)
    o3 = os.path.join(tmp, "u3.safetensors")
    r = soup(pa, pb, pc3, o3)
    check("three inputs: written", r.returncode == 0 and os.path.exists(o3))
    if r.returncode == 0:
        u3 = ModelFile.load(o3)
        check("three inputs: the uniform mean", all(np.allclose(
            u3.tensors[k], (a.tensors[k] + b.tensors[k] + c3.tensors[k]) / 3, atol=1e-6) for k in enc))
        check("three inputs: all training clips listed",
              "0000000000000002" in u3.metadata["clar.training_clips_md5"] and
              "0000000000000001" in u3.metadata["clar.training_clips_md5"])
        check("three inputs: the weights are recorded", "--weights 0.333333,0.333333,0.333333"
              in u3.metadata.get("clar.training", ""))
    ow = os.path.join(tmp, "w3.safetensors")
    r = soup(pa, pb, pc3, ow, "--weights", "2,0,2")
    check("--weights: written", r.returncode == 0)
    if r.returncode == 0:
        w3 = ModelFile.load(ow)
        check("--weights are divided by their sum", all(np.allclose(
            w3.tensors[k], (a.tensors[k] + c3.tensors[k]) / 2, atol=1e-6) for k in enc))
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
    # The same labels in another order: rows matched by name, A's order kept.
    rv = ModelFile.load(pb)
    names, vec, scale = rv.labels
    rv.set_labels(list(names)[::-1], np.asarray(vec)[::-1], scale)
    prv = os.path.join(tmp, "rev.safetensors")
    rv.save(prv)
    fw = ModelFile.load(pb)   # the same unit rows in B's own order
    fw.set_labels(names, vec, scale)
    pfw = os.path.join(tmp, "fwd.safetensors")
    fw.save(pfw)
    orv, ofw = os.path.join(tmp, "srev.safetensors"), os.path.join(tmp, "sfwd.safetensors")
    r = soup(pa, prv, orv)
    r2 = soup(pa, pfw, ofw)
    check("labels in another order: written", r.returncode == 0 and r2.returncode == 0)
    if r.returncode == 0 and r2.returncode == 0:
        srv, sfw = ModelFile.load(orv), ModelFile.load(ofw)
        check("labels in another order: matched by name (the soup of the same rows in A's order)",
              srv.labels[0] == a.labels[0] and np.array_equal(srv.labels[1], sfw.labels[1]))
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
    y = os.path.join(tmp, "y.safetensors")
    for args, why in (((pa, pb, pc3, y, "--alpha", "0.5"), "use --weights"),
                      ((pa, pb, pc3, y, "--weights", "1,1"), "2 numbers for 3 inputs"),
                      ((pa, pb, y, "--weights", "1,-1"), ">= 0"),
                      ((pa, pb, y, "--weights", "0,0"), "sum > 0"),
                      ((pa, pb, y, "--weights", "1,x"), "not a comma-separated list"),
                      ((pa, pb, y, "--weights", "1,1", "--alpha", "0.5"), "not both"),
                      ((pa, y), "at least two input models"),
                      ((pa, pb, pb), "is also an input")):
        r = soup(*args)
        check(f"refused ({why})", r.returncode != 0 and why in r.stderr and not os.path.exists(y))
check.exit()
