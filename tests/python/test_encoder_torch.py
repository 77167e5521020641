# SPDX-License-Identifier: LGPL-2.1-or-later
"""libclar's encoder forward pass against PyTorch on the same weights."""
import ctypes
import json
import os
import subprocess
import sys
import tempfile

from clar_ctypes import Error, fptr, load_lib, write_safetensors
from clar_testutil import BUILD, imports_or_skip, safetensors_metadata

with imports_or_skip(pyclar=True):
    import numpy as np
    import torch
    import torchaudio
    from clar.nn import Encoder

torch.manual_seed(7)
rng = np.random.default_rng(7)
lib = load_lib()
mp = lib.clar_mel_default_params()

# The default layer list plus a batch-norm layer and an average pool, so
# every op the loader accepts is exercised.
arch = [
    {"op": "batchnorm2d", "name": "bn0", "channels": 1, "eps": 1e-5},
    {"op": "conv2d", "name": "conv1", "in": 1, "out": 16, "kernel": 3, "pad": 1},
    {"op": "relu"}, {"op": "maxpool2d", "kernel": 2},
    {"op": "conv2d", "name": "conv2", "in": 16, "out": 32, "kernel": 3, "pad": 1},
    {"op": "batchnorm2d", "name": "bn2", "channels": 32},
    {"op": "relu"}, {"op": "avgpool2d", "kernel": 2},
    {"op": "conv2d", "name": "conv3", "in": 32, "out": 64, "kernel": 3, "pad": 1},
    {"op": "relu"}, {"op": "maxpool2d", "kernel": 2},
    {"op": "conv2d", "name": "conv4", "in": 64, "out": 128, "kernel": 3, "pad": 1},
    {"op": "relu"}, {"op": "global_avg_pool"},
    {"op": "linear", "name": "embed", "in": 128, "out": 96},
]




def build(arch, dim, seed):
    """A torch Encoder for arch with random weights (biases and batch-norm
    statistics too), and its tensors under the model file's names."""
    torch.manual_seed(seed)
    net = Encoder(arch)
    tensors = {}
    for layer, m in zip(arch, net.layers):
        op = layer["op"]
        if op in ("conv2d", "dwconv2d"):
            with torch.no_grad():
                m.bias.normal_(0, 0.1)
        elif op == "batchnorm2d":
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
                m.running_mean.normal_(-5 if layer["name"] == "bn0" else 0, 1)
                m.running_var.uniform_(0.5, 4)
        if "name" in layer:
            for k, v in m.state_dict().items():
                if k == "num_batches_tracked":
                    continue
                tensors[f"encoder.{layer['name']}.{k}"] = v.detach().numpy().astype(np.float32)
    fb = torchaudio.functional.melscale_fbanks(mp.n_fft // 2 + 1, mp.f_min, mp.f_max, mp.n_mels,
                                               mp.sample_rate, None, "htk").numpy().T.copy()
    tensors = {"frontend.mel_filterbank": fb.astype(np.float32), **tensors}
    meta = {
        "clar.format": "clar-model", "clar.format_version": "1",
        "clar.sample_rate": str(mp.sample_rate), "clar.n_fft": str(mp.n_fft),
        "clar.win_length": str(mp.win_length), "clar.hop_length": str(mp.hop_length),
        "clar.n_mels": str(mp.n_mels), "clar.f_min": repr(mp.f_min),
        "clar.f_max": repr(mp.f_max), "clar.log_offset": repr(mp.log_offset),
        "clar.center": "1", "clar.window_samples": "16000", "clar.hop_samples": "8000",
        "clar.embedding_dim": str(dim), "clar.architecture": json.dumps(arch),
    }
    return net.eval(), tensors, meta


def dsres_architecture():
    """The dsres layer list as libclar defines it (clar-mkmodel --arch)."""
    mk = os.path.join(BUILD or "", "tools", "clar-mkmodel")
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "ds.safetensors")
        subprocess.run([mk, "--arch", "dsres", "-o", path], check=True)
        return json.loads(safetensors_metadata(path)["clar.architecture"])


failures = 0
worst = 0.0


def check(arch, dim, seed, what):
    """C forward vs torch on arch at several lengths, then PCM end to end."""
    global failures, worst
    net, tensors, meta = build(arch, dim, seed)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.safetensors")
        write_safetensors(path, tensors, meta)
        err = Error()
        model = ctypes.c_void_p()
        rc = lib.clar_model_load_file(path.encode(), ctypes.byref(model), ctypes.byref(err))
        if rc != 0:
            print(f"{what}: load failed:", err.message.decode())
            failures += 1
            return
        sess = lib.clar_session_new(model, ctypes.byref(err))
        assert sess, err.message
        for T in (101, 64, 37, 250):
            mel = (rng.standard_normal((1, 1, mp.n_mels, T)) * 3 - 6).astype(np.float32)
            out = np.zeros(dim, dtype=np.float32)
            rc = lib.clar_session_encode_raw(sess, fptr(mel), T, fptr(out))
            assert rc == 0, rc
            with torch.no_grad():
                ref = net(torch.from_numpy(mel)).numpy()[0]
            rel = float(np.abs(out - ref).max() / np.abs(ref).max())
            worst = max(worst, rel)
            print(f"{what} encoder, {T} frames: max |clar - torch| / max |torch| = {rel:.3g}")
            if rel > 1e-4:
                failures += 1

        # End to end: PCM -> torchaudio log-mel -> torch encoder -> L2 norm.
        melspec = torchaudio.transforms.MelSpectrogram(
            sample_rate=mp.sample_rate, n_fft=mp.n_fft, win_length=mp.win_length,
            hop_length=mp.hop_length, f_min=mp.f_min, f_max=mp.f_max, n_mels=mp.n_mels,
            power=2.0, center=True, pad_mode="reflect", norm=None, mel_scale="htk")
        for n in (16000, 24011):
            x = (0.2 * rng.standard_normal(n)).astype(np.float32)
            emb = np.zeros(dim, dtype=np.float32)
            rc = lib.clar_session_embed(sess, fptr(x), n, fptr(emb))
            assert rc == 0, rc
            with torch.no_grad():
                lm = torch.log(melspec(torch.from_numpy(x)) + mp.log_offset)
                ref = net(lm[None, None])[0]
                ref = (ref / ref.norm()).numpy()
            e = float(np.abs(emb - ref).max())
            print(f"{what} embed, {n} samples: max abs diff of unit embeddings {e:.3g}, "
                  f"cosine {float(emb @ ref):.7f}")
            if e > 1e-4:
                failures += 1
        lib.clar_session_free(sess)
        lib.clar_model_unref(model)


check(arch, 96, 7, "layer kinds")
# Residual depthwise-separable blocks: the dsres list itself, and a small
# list with what dsres does not use (nested residual blocks, a ReLU right
# after a residual_begin on a signed activation, a depthwise conv without
# padding, stride 3, a residual block around the input).
check(dsres_architecture(), 128, 8, "dsres")
small = [
    {"op": "residual_begin"},
    {"op": "dwconv2d", "name": "d0", "channels": 1, "kernel": 3, "pad": 1},
    {"op": "residual_add"},
    {"op": "conv2d", "name": "c1", "in": 1, "out": 8, "kernel": 3, "pad": 1},
    {"op": "residual_begin"}, {"op": "relu"}, {"op": "residual_begin"},
    {"op": "conv2d", "name": "e1", "in": 8, "out": 16, "kernel": 1, "pad": 0},
    {"op": "dwconv2d", "name": "d1", "channels": 16, "kernel": 5, "pad": 2, "stride": 1},
    {"op": "conv2d", "name": "p1", "in": 16, "out": 8, "kernel": 1},
    {"op": "residual_add"}, {"op": "relu"}, {"op": "residual_add"},
    {"op": "dwconv2d", "name": "d2", "channels": 8, "kernel": 3, "pad": 0, "stride": 3},
    {"op": "batchnorm2d", "name": "bn2", "channels": 8}, {"op": "relu"},
    {"op": "dwconv2d", "name": "d3", "channels": 8, "kernel": 3, "pad": 1, "stride": 2},
    {"op": "global_avg_pool"},
    {"op": "linear", "name": "embed", "in": 8, "out": 32},
]
check(small, 32, 9, "residual kinds")
print(f"worst encoder relative error: {worst:.3g} (limit 1e-4)")
sys.exit(1 if failures else 0)
