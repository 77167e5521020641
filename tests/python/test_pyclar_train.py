# SPDX-License-Identifier: LGPL-2.1-or-later
"""End to end: the PyTorch trainer (python -m clar.train) on 2 gloo workers
started by torchrun on 127.0.0.1 (a free port), on generated clips of three
classes (low tone, high tone with harmonics, noise bursts), for a few
dozen steps:

- the loss falls (mean of the last 6 steps below 0.9 x the first 6, its
  cross-entropy part below 0.6 x);
- the exported model.safetensors, loaded unchanged by the clarembed element
  (gst-launch-1.0 ... ! clarembed model-location=... ! fakesink), labels
  held-out clips of each class correctly in their first window;
- a text tower trained on the export (python -m clar.train --clap, 2
  workers) makes clarembed label the held-out clips from the prompts
  "hum;whistle;hiss" alone;
- a run stopped at step 9 (--stop-step) and resumed (--resume) ends with
  exactly the tensors of the uninterrupted run;
- python -m clar.onnx exports the trained encoder to a valid ONNX file
  (when python3-onnx is installed).
CLAR_BUILD_ROOT gives the plugin; skips (77) without torch, torchrun or
gst-launch-1.0."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

from clar_testutil import BUILD, SKIP, imports_or_skip, pyclar_path, write_wav

with imports_or_skip():
    import numpy as np
    import torch  # noqa: F401
    import torch.distributed as dist
sys.path.insert(0, pyclar_path())
from clar import safetensors  # noqa: E402
from clar.model import ModelFile  # noqa: E402

torchrun = shutil.which("torchrun", path="/usr/bin:" + os.environ.get("PATH", ""))
gst = shutil.which("gst-launch-1.0")
if not torchrun or not gst or not BUILD or not dist.is_gloo_available():
    print("skipping: needs torchrun, gst-launch-1.0, gloo and CLAR_BUILD_ROOT")
    sys.exit(SKIP)

SR = 16000
CLASSES = ("hum", "whistle", "hiss")
# A narrower layer list than the default (same ops) keeps the test short.
ARCH = json.dumps([
    {"op": "conv2d", "name": "conv1", "in": 1, "out": 8, "kernel": 3, "pad": 1},
    {"op": "relu"}, {"op": "maxpool2d", "kernel": 2},
    {"op": "conv2d", "name": "conv2", "in": 8, "out": 16, "kernel": 3, "pad": 1},
    {"op": "relu"}, {"op": "maxpool2d", "kernel": 2},
    {"op": "conv2d", "name": "conv3", "in": 16, "out": 32, "kernel": 3, "pad": 1},
    {"op": "relu"}, {"op": "global_avg_pool"},
    {"op": "linear", "name": "embed", "in": 32, "out": 32}])


def clip(kind, rng, n=SR):
    t = np.arange(n) / SR
    if kind == "hum":
        f = rng.uniform(120, 220)
        x = np.sin(2 * np.pi * f * t) + 0.5 * np.sin(4 * np.pi * f * t)
    elif kind == "whistle":
        f = rng.uniform(2000, 3000)
        x = np.sin(2 * np.pi * f * t + 3 * np.sin(2 * np.pi * 5 * t))
    else:
        x = rng.standard_normal(n) * (rng.random(n // 1600 + 1).repeat(1600)[:n] > 0.3)
    x *= rng.uniform(0.1, 0.5) / (np.abs(x).max() + 1e-9)
    return x


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train(d, out, *extra, clap=False):
    env = dict(os.environ, PYTHONPATH=pyclar_path(), OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    env.pop("LD_PRELOAD", None)   # torch is not ours: no sanitizer runtime
    # --redirects 1 --tee 1: torchrun 1.13 on Python 3.11 cannot parse its own
    # default "0" (README, "Training on many machines").
    cmd = [torchrun, "--nnodes", "1", "--nproc_per_node", "2", "--redirects", "1", "--tee", "1",
           "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), "-m", "clar.train"]
    if clap:
        cmd += ["--clap", "--data", os.path.join(d, "manifest.tsv"), "--out", out, "--cache",
                os.path.join(d, "cache"), "--threads", "1", *extra]
    else:
        cmd += ["--data", os.path.join(d, "manifest.tsv"), "--out", out, "--cache",
                os.path.join(d, "cache"), "--steps", "20", "--batch-size", "6", "--warmup", "4",
                "--lr", "5e-3", "--checkpoint-every", "100", "--threads", "1",
                "--log-every", "1000", "--architecture", ARCH,
                # The telephone band removes the hum class's 120-440 Hz and a
                # background clip is another class: 20 steps on three tones
                # cannot learn through them. EQ, reverb and the frequency
                # masks stay on (test_pyclar_augment tests all of them).
                "--aug", "phone=0,mix=0", *extra]
    print("+", " ".join(cmd), flush=True)
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=600)
    print(r.stdout[-3000:])
    if r.returncode != 0:
        raise SystemExit(f"torchrun failed ({r.returncode})")


def labels_from_element(model, wav, *props):
    env = dict(os.environ, GST_PLUGIN_PATH=os.path.join(BUILD, "plugin"))
    r = subprocess.run([gst, "-m", "filesrc", f"location={wav}", "!", "decodebin", "!",
                        "audioconvert", "!", "audioresample", "!", "clarembed",
                        f"model-location={model}", "message-embedding=false", *props, "!", "fakesink"],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=120)
    m = re.search(r"window-index=\(guint64\)0,.*?labels=\(string\)< ([^>]*) >", r.stdout)
    if r.returncode != 0 or not m:
        print(r.stdout[-2000:])
        return None
    return [x.strip().strip('"') for x in m.group(1).split(",")]


def labelled_right(model, d, what, *props):
    """How many of the held-out clips d/test-<class>.wav the element with
    model (and props) labels with their class in their first window."""
    ok = 0
    for c in CLASSES:
        got = labels_from_element(model, os.path.join(d, f"test-{c}.wav"), *props)
        print(f"{what} on a new {c} clip: {got}")
        ok += bool(got) and got[0] == c
    return ok


def main():
    fails = 0
    rng = np.random.default_rng(4)
    with tempfile.TemporaryDirectory() as d:
        rows = ["path\tlabel\tsplit\tsource\tgroup\tcaption"]
        for c in CLASSES:
            os.makedirs(os.path.join(d, c))
            for i in range(10):
                rel = f"{c}/{i}.wav"
                write_wav(os.path.join(d, rel), clip(c, rng, int(SR * rng.uniform(0.8, 1.6))))
                rows.append(f"{rel}\t{c}\ttrain\tgen\t\t")
        with open(os.path.join(d, "manifest.tsv"), "w") as f:
            f.write("\n".join(rows) + "\n")
        out = os.path.join(d, "run")
        train(d, out)
        log = [line.split("\t") for line in open(os.path.join(out, "train-log.tsv")).read().split("\n")[1:] if line]
        loss = [float(r[3]) for r in log]
        ce = [float(r[5]) for r in log]
        first, last = np.mean(loss[:6]), np.mean(loss[-6:])
        ce0, ce1 = np.mean(ce[:6]), np.mean(ce[-6:])
        print(f"loss: first 6 steps {first:.4f} (cross-entropy {ce0:.4f}), last 6 steps "
              f"{last:.4f} ({ce1:.4f}) over {len(loss)} steps")
        if len(loss) != 20 or not last < 0.9 * first or not ce1 < 0.6 * ce0:
            print("FAIL the loss did not fall (limits: total x 0.9, cross-entropy x 0.6)")
            fails += 1
        model = os.path.join(out, "model.safetensors")
        tens, meta = safetensors.load(model)
        print(f"exported: {meta.get('clar.name')}, labels {meta.get('clar.labels')}, "
              f"workers {meta.get('clar.training_workers')}")
        fp = ModelFile.load(model).fingerprint()
        print(f"export's encoder {fp}, its labels record {meta.get('clar.labels.encoder_fingerprint')}")
        if meta.get("clar.labels.encoder_fingerprint") != fp:
            print("FAIL the export's labels are not tied to its encoder (libclar would warn)")
            fails += 1
        for c in CLASSES:
            write_wav(os.path.join(d, f"test-{c}.wav"), clip(c, np.random.default_rng(99), SR))
        ok = labelled_right(model, d, "clarembed")
        if ok != len(CLASSES):
            print(f"FAIL clarembed labelled {ok} of {len(CLASSES)} clips")
            fails += 1
        # CLAP: a text tower on the trained encoder (2 workers, texts
        # gathered); the element labels the clips from prompts alone.
        clap = os.path.join(d, "clap.safetensors")
        train(d, clap, "--init", model, "--steps", "60", "--batch-size", "6", "--buckets", "512",
              "--text-dim", "32", "--warmup", "5", clap=True)
        cmeta = safetensors.load(clap)[1]
        if cmeta.get("clar.text.encoder_fingerprint") != fp:
            print(f"FAIL the text tower records encoder {cmeta.get('clar.text.encoder_fingerprint')}, "
                  f"not its encoder's {fp}")
            fails += 1
        ok = labelled_right(clap, d, f"clarembed labels={';'.join(CLASSES)} (zero-shot)",
                            "labels=" + ";".join(CLASSES))
        if ok != len(CLASSES):
            print(f"FAIL zero-shot prompts labelled {ok} of {len(CLASSES)} clips")
            fails += 1
        # Stop at step 12, resume: the same model as the uninterrupted run.
        out2 = os.path.join(d, "run2")
        train(d, out2, "--stop-step", "9")
        train(d, out2, "--resume")
        t2, _ = safetensors.load(os.path.join(out2, "model.safetensors"))
        diff = max(float(np.abs(t2[k] - tens[k]).max()) for k in tens)
        print(f"resumed run vs uninterrupted: max tensor difference {diff:.3g}")
        if set(t2) != set(tens) or diff != 0.0:
            print("FAIL the resumed run differs")
            fails += 1
        try:
            import onnx
        except ImportError:
            onnx = None
        if onnx is not None:
            from clar import onnx as clar_onnx
            onx = os.path.join(d, "model.onnx")
            clar_onnx.main([model, onx])
            onnx.checker.check_model(onnx.load(onx))
            print("ONNX export of the trained model: valid")
    print("ok" if not fails else f"{fails} check(s) failed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
