#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""tools/set-labels.py (other vectors for a model's own labels): prototypes
that clar-enroll makes from a tone and from noise, put into the shipped
model under its labels "cow" and "noise", replace those two rows only,
keep the encoder, front end and text tower bit for bit and the labels tied
to the encoder, and clar-embed then labels the tone "cow" (the shipped
model does not); a model
SOURCE whose encoder differs by refolding rounding gives its rows and its
training clips; refused, with why and nothing written: an encoder that
differs, a label file of another encoder, labels the model lacks, a zero
vector, a file that is not safetensors (as source or model), an output
that is an input, a scale out of range, a label named twice, --labels
naming a label SOURCE lacks. --labels takes only the named rows. With --add a
label the model lacks (enrolled from a square-wave "kazoo") is appended
after the model's rows, which stay bit for bit, and clar-embed names it.""" 
import hashlib
import json
import os
import subprocess
import sys
import tempfile

from clar_testutil import BUILD, DEFAULT_MODEL as MODEL, Checks, imports_or_skip, run_tool, write_wav

with imports_or_skip(pyclar=True):
    import numpy as np
    from clar import safetensors
    from clar.model import ModelFile

check = Checks()


def run(*args):
    return run_tool("set-labels.py", *args)


def written(what, source, out, *opts, says=""):
    """Runs set-labels.py MODEL SOURCE OUT OPTS and checks, as WHAT, that it
    exited 0, wrote OUT and printed SAYS; the written model, or None."""
    r = run(MODEL, source, out, *opts)
    ok = r.returncode == 0 and os.path.exists(out) and says in r.stdout
    check(what, ok)
    if not ok:
        print(r.stderr[-500:])
    return ModelFile.load(out) if ok else None


def write_labels(path, names, vec, fingerprint):
    """A clar-labels file as labels.h writes it."""
    safetensors.save(path, {"labels.embeddings": np.asarray(vec, dtype=np.float32)},
                     {"clar.format": "clar-labels", "clar.labels": json.dumps(names),
                      "clar.logit_scale": "10", "clar.labels.encoder_fingerprint": fingerprint})


enroll = os.path.join(BUILD, "tools", "clar-enroll") if BUILD else None
embed = os.path.join(BUILD, "tools", "clar-embed") if BUILD else None
if not (enroll and os.path.exists(enroll) and embed and os.path.exists(embed)):
    print("skipping: no clar-enroll / clar-embed in the build tree")
    sys.exit(77)

with tempfile.TemporaryDirectory() as tmp:
    m = ModelFile.load(MODEL)
    names, rows, scale = m.labels
    rng = np.random.default_rng(5)
    t = np.arange(24000) / 16000.0
    for lab in ("cow", "noise"):
        os.makedirs(os.path.join(tmp, "d", lab))
    for i in range(3):
        write_wav(os.path.join(tmp, "d", "cow", f"t{i}.wav"), 0.4 * np.sin(2 * np.pi * (1200 + 40 * i) * t))
        write_wav(os.path.join(tmp, "d", "noise", f"n{i}.wav"), 0.2 * rng.standard_normal(t.size))
    lab_file = os.path.join(tmp, "proto.safetensors")
    r = subprocess.run([enroll, "--model", MODEL, "--data", os.path.join(tmp, "d"), "--val-fraction", "0",
                        "--out", lab_file], capture_output=True, text=True)
    check("clar-enroll writes the prototypes", r.returncode == 0 and os.path.exists(lab_file))
    out = os.path.join(tmp, "out.safetensors")
    o = written("set-labels.py writes the model", lab_file, out)
    if o is None:
        check.exit()
    onames, orows, oscale = o.labels
    lab_t, lab_meta = safetensors.load(lab_file)
    pn = json.loads(lab_meta["clar.labels"])
    pv = lab_t["labels.embeddings"]
    changed = [k for k in range(len(names)) if not np.array_equal(orows[k], rows[k])]
    check("the two enrolled labels' rows, and only those, change",
          sorted(names[k] for k in changed) == ["cow", "noise"] and onames == names)
    check("each is the prototype, as a unit row",
          all(np.allclose(orows[names.index(p)], pv[i] / np.linalg.norm(pv[i]), atol=1e-6) for i, p in enumerate(pn)))
    check("the scale is the model's", oscale == scale)
    same = [k for k in m.tensors if k != "labels.embeddings"]
    check("encoder, front end and text tower are bit for bit the model's",
          all(np.array_equal(o.tensors[k], m.tensors[k]) for k in same) and o.has_text)
    check("the labels are tied to the same encoder",
          o.metadata["clar.labels.encoder_fingerprint"] == o.fingerprint() == m.fingerprint())
    check("the recipe is recorded", "set-labels.py: 2 of" in o.metadata.get("clar.training", ""))
    tone = os.path.join(tmp, "d", "cow", "t1.wav")
    top = {}
    for mod in (MODEL, out):
        r = subprocess.run([embed, "--model", mod, tone], capture_output=True, text=True)
        top[mod] = json.loads(r.stdout.splitlines()[0])["labels"][0]["name"] if r.returncode == 0 and r.stdout else None
    check(f"clar-embed labels the enrolled tone cow with the result (the model: {top[MODEL]})",
          top[out] == "cow" and top[MODEL] not in (None, "cow"))
    # A model SOURCE: an encoder differing by refolding rounding is accepted.
    s = ModelFile.load(MODEL)
    for k in s.tensors:
        if k.startswith("encoder."):
            s.tensors[k] = (s.tensors[k] * (1 + 1e-7)).astype(np.float32)
    nr = rows.copy()
    nr[0] = rng.standard_normal(nr.shape[1])
    s.set_labels(names, nr, scale)
    s.metadata["clar.training_clips_md5"] = "0000000000000003"
    ps = os.path.join(tmp, "src.safetensors")
    s.save(ps)
    out2 = os.path.join(tmp, "out2.safetensors")
    o2 = written("a model SOURCE with the same encoder: written", ps, out2, "--scale", "12")
    if o2:
        check("its rows are taken", np.allclose(o2.labels[1][0], nr[0] / np.linalg.norm(nr[0]), atol=1e-6))
        check("its training clips are added", "0000000000000003" in o2.metadata["clar.training_clips_md5"])
        check("--scale is used", o2.labels[2] == 12.0)
        check("the encoder is still the model's", o2.fingerprint() == m.fingerprint())
    # --labels: only the named rows of a model SOURCE; the rest bit for bit
    # (a model SOURCE's rows are refolded and renormalised: 1-ulp changes).
    s.set_labels(names, nr * 1.0000001, scale)
    ps2 = os.path.join(tmp, "src2.safetensors")
    s.save(ps2)
    out4 = os.path.join(tmp, "out4.safetensors")
    o4 = written("--labels: written", ps2, out4, "--labels", names[0])
    if o4:
        r4 = o4.labels[1]
        check("--labels: that row taken, every other row bit for bit the model's",
              np.allclose(r4[0], nr[0] / np.linalg.norm(nr[0]), atol=1e-6) and np.array_equal(r4[1:], rows[1:]))
    # --add: a label the model lacks is appended (clar-enroll --classes of
    # a class the model never learnt); every row already there stays.
    os.makedirs(os.path.join(tmp, "e", "kazoo"))
    for i in range(3):
        write_wav(os.path.join(tmp, "e", "kazoo", f"k{i}.wav"),
                  0.3 * np.sign(np.sin(2 * np.pi * (310 + 20 * i) * t)))
    kz = os.path.join(tmp, "kazoo.safetensors")
    r = subprocess.run([enroll, "--model", MODEL, "--data", os.path.join(tmp, "e"), "--val-fraction", "0",
                        "--out", kz], capture_output=True, text=True)
    out3 = os.path.join(tmp, "out3.safetensors")
    o3 = written("--add: a label the model lacks is appended", kz, out3, "--add", says="1 added: kazoo")
    if o3:
        n3, r3, s3 = o3.labels
        kv = safetensors.load(kz)[0]["labels.embeddings"][0]
        check("the model's labels first, in their order, then kazoo", n3 == list(names) + ["kazoo"])
        check("every earlier row bit for bit, the new one the prototype",
              np.array_equal(r3[:len(names)], rows) and np.allclose(r3[-1], kv / np.linalg.norm(kv), atol=1e-6))
        check("--add: encoder and labels tied as before", o3.fingerprint() == m.fingerprint()
              and o3.metadata["clar.labels.encoder_fingerprint"] == m.fingerprint() and s3 == scale)
        check("--add: the recipe says what was added", "(kazoo added)" in o3.metadata.get("clar.training", ""))
        check("--add: the recipe names clar-enroll's command",
              "clar-enroll --model" in o3.metadata.get("clar.training", ""))
        # The clips the prototype came from are listed as the model's
        # training clips (clar-enroll writes them, set-labels.py merges them).
        kmd5 = {hashlib.md5(open(os.path.join(tmp, "e", "kazoo", f"k{i}.wav"), "rb").read()).hexdigest()[:16]
                for i in range(3)}
        listed = set(o3.metadata.get("clar.training_clips_md5", "").split(","))
        check("--add: the enrolled clips are among the model's training clips", kmd5 <= listed)
        check("--add: the model's own training clips stay listed",
              set(m.metadata.get("clar.training_clips_md5", "").split(",")) - {""} <= listed)
        buzz = os.path.join(tmp, "e", "kazoo", "k1.wav")
        r = subprocess.run([embed, "--model", out3, buzz], capture_output=True, text=True)
        got = json.loads(r.stdout.splitlines()[0])["labels"][0]["name"] if r.returncode == 0 and r.stdout else None
        check(f"clar-embed names the enrolled sound kazoo with the result (got {got})", got == "kazoo")
    # --blend: each named row the bisector of the model's row and SOURCE's
    # vector (equal cosine to both), the other rows bit for bit.
    out5 = os.path.join(tmp, "out5.safetensors")
    o5 = written("--blend: written", lab_file, out5, "--blend", says="blended with")
    if o5:
        n5, r5, _ = o5.labels
        ok = list(n5) == list(names)
        for i, n in enumerate(names):
            if n in pn:
                w = rows[i] / np.linalg.norm(rows[i])
                v = np.asarray(pv[pn.index(n)], dtype=np.float64)
                v /= np.linalg.norm(v)
                b5 = np.asarray(r5[i], dtype=np.float64)
                ok = ok and abs(np.linalg.norm(b5) - 1) < 1e-5 and abs(b5 @ w - b5 @ v) < 1e-5 \
                    and b5 @ w > max(w @ v, 0) - 1e-6 and np.allclose(b5, (w + v) / np.linalg.norm(w + v), atol=1e-6)
            else:
                ok = ok and np.array_equal(r5[i], rows[i])
        check("--blend: the named rows halfway (unit, equal cosine to both ends), the others bit for bit", ok)
        check("--blend: the recipe says so", "blended halfway" in o5.metadata.get("clar.training", ""))
    r = run(MODEL, kz, os.path.join(tmp, "y5.safetensors"), "--blend", "--add")
    check("--blend with a label the model lacks: refused",
          r.returncode != 0 and "--blend needs a row" in r.stderr and not os.path.exists(os.path.join(tmp, "y5.safetensors")))
    twice = os.path.join(tmp, "twice.safetensors")
    write_labels(twice, ["kazoo", "kazoo"], [rows[0], rows[1]], m.fingerprint())
    # Refusals: nothing written, and why.
    bad_enc = ModelFile.load(ps)
    k0 = next(k for k in bad_enc.tensors if k.startswith("encoder."))
    bad_enc.tensors[k0] = (bad_enc.tensors[k0] * 1.01).astype(np.float32)
    pbe = os.path.join(tmp, "be.safetensors")
    bad_enc.save(pbe)
    other_fp = os.path.join(tmp, "fp.safetensors")
    write_labels(other_fp, ["flute"], [rows[0]], "fnv1a64:0000000000000000")
    lacks = os.path.join(tmp, "lacks.safetensors")
    write_labels(lacks, ["flute", "kazoo"], [rows[0], rows[1]], m.fingerprint())
    zero = os.path.join(tmp, "zero.safetensors")
    write_labels(zero, ["flute"], [np.zeros(rows.shape[1])], m.fingerprint())
    junk = os.path.join(tmp, "junk.safetensors")
    with open(junk, "wb") as f:
        f.write(b"\xff" * 64)
    y = os.path.join(tmp, "y.safetensors")
    for args, why in (((MODEL, pbe, y), "differs from the model's"),
                      ((MODEL, other_fp, y), "was made with encoder"),
                      ((MODEL, lacks, y), "labels the model lacks (kazoo)"),
                      ((MODEL, twice, y, "--add"), "names a label twice"),
                      ((MODEL, lab_file, y, "--labels", "kazoo"), "--labels names labels"),
                      ((MODEL, zero, y), "zero or not finite"),
                      ((MODEL, junk, y), "safetensors"),
                      ((junk, lab_file, y), "not a safetensors file?"),
                      ((MODEL, lab_file, lab_file), "is also an input"),
                      ((MODEL, lab_file, y, "--scale", "0"), "is not in (0, 1000]")):
        r = run(*args)
        ok = r.returncode != 0 and why in r.stderr and "Traceback" not in r.stderr and not os.path.exists(y)
        if not ok:
            print(r.returncode, r.stderr[-500:])
        check(f"refused ({why})", ok)
check.exit()
