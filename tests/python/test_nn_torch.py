# SPDX-License-Identifier: LGPL-2.1-or-later
"""clar-train's network against PyTorch autograd, layer list and all.

Both named architectures (cnn4, the default, and dsres, the residual
depthwise-separable one) are rebuilt in PyTorch from the layer list (each
conv2d and dwconv2d followed by a train-mode BatchNorm2d, momentum 0.1,
eps 1e-5, as clar_net inserts it; residual_begin/residual_add as x +
block(x)), with the projection head Linear-ReLU-Linear and the
cosine classifier s * normalize(h) normalize(W)^T. The same weights (copied
from the clar_net through ctypes) and the same log-mel batch go through both;
then loss = sum(rz * z) + sum(rl * logits) for fixed random rz, rl is
differentiated by autograd (float64) and by clar_net_backward. Compared:
h, z, logits, the BN running statistics after the step, every parameter
gradient and the input gradient. Exits 77 when numpy or torch is missing.
"""
import ctypes
import json
import os
import sys

from clar_ctypes import Error, MelParams, load_train_lib
from clar_testutil import imports_or_skip

with imports_or_skip():
    import numpy as np
    import torch
    import torch.nn.functional as F


class NetConfig(ctypes.Structure):
    """clar_net_config of src/train/nn.h."""
    _fields_ = [("architecture", ctypes.c_char_p), ("mel", MelParams),
                ("window_samples", ctypes.c_size_t), ("hop_samples", ctypes.c_size_t),
                ("proj_dim", ctypes.c_int), ("n_classes", ctypes.c_int),
                ("class_names", ctypes.c_void_p), ("cls_scale", ctypes.c_float),
                ("bn_momentum", ctypes.c_float), ("bn_eps", ctypes.c_float),
                ("seed", ctypes.c_uint64), ("conv_chunk", ctypes.c_int),
                ("conv_mode", ctypes.c_int)]


class Param(ctypes.Structure):
    """clar_param of src/train/nn.h."""
    _fields_ = [("name", ctypes.c_char * 96), ("w", ctypes.POINTER(ctypes.c_float)),
                ("g", ctypes.POINTER(ctypes.c_float)), ("m", ctypes.POINTER(ctypes.c_float)),
                ("v", ctypes.POINTER(ctypes.c_float)), ("n", ctypes.c_size_t),
                ("decay", ctypes.c_int)]


def load():
    lib = load_train_lib()
    P = ctypes.POINTER
    f = P(ctypes.c_float)
    cf = P(f)
    lib.clar_net_default_config.restype = NetConfig
    lib.clar_net_new.restype = ctypes.c_void_p
    lib.clar_net_new.argtypes = [P(NetConfig), P(Error)]
    lib.clar_net_free.argtypes = [ctypes.c_void_p]
    lib.clar_net_n_params.restype = ctypes.c_size_t
    lib.clar_net_n_params.argtypes = [ctypes.c_void_p]
    lib.clar_net_param.restype = P(Param)
    lib.clar_net_param.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    lib.clar_net_zero_grad.argtypes = [ctypes.c_void_p]
    lib.clar_net_forward.argtypes = [ctypes.c_void_p, f, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                     cf, cf, cf]
    lib.clar_net_backward.argtypes = [ctypes.c_void_p, f, f, f]
    lib.clar_default_architecture.restype = ctypes.c_char_p
    lib.clar_architecture_by_name.restype = ctypes.c_char_p
    lib.clar_architecture_by_name.argtypes = [ctypes.c_char_p]
    lib.clar_net_save_checkpoint.argtypes = [ctypes.c_void_p, ctypes.c_void_p, f, ctypes.c_size_t,
                                             ctypes.c_char_p, P(Error)]
    return lib


def fp(a):
    assert a.dtype == np.float32 and a.flags["C_CONTIGUOUS"]
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def arr(ptr, n):
    return np.ctypeslib.as_array(ptr, shape=(n,)).copy()


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))


def run(lib, arch_name, draw=0):
    print(f"-- architecture {arch_name}, data draw {draw}")
    cfg = lib.clar_net_default_config()
    arch = lib.clar_architecture_by_name(arch_name.encode())
    if arch_name == "cnn4":
        assert arch == lib.clar_default_architecture()
    cfg.architecture = arch
    K, Pd, M, T = 4, 16, 6, 40
    cfg.n_classes = K
    cfg.proj_dim = Pd
    err = Error()
    net = lib.clar_net_new(ctypes.byref(cfg), ctypes.byref(err))
    if not net:
        print("clar_net_new:", err.message.decode())
        return 1
    params = {}
    brng = np.random.default_rng(11)
    for i in range(lib.clar_net_n_params(net)):
        p = lib.clar_net_param(net, i).contents
        name = p.name.decode()
        if arch_name != "cnn4" and name.startswith("bn."):
            # At gamma 1, beta 0 the loss is exactly invariant to some
            # parameters (a gamma before ReLU, depthwise conv and batch-norm):
            # zero gradients and zero-mean statistics, whose relative errors
            # mean nothing. Random values break the symmetry.
            v = brng.uniform(0.5, 1.5, p.n) if name.endswith(".weight") else \
                brng.uniform(-0.5, 0.5, p.n)
            for j in range(p.n):
                p.w[j] = float(v[j])
        params[name] = (p, arr(p.w, p.n))
    layers = json.loads(arch.decode())
    n_mels = cfg.mel.n_mels

    rng = np.random.default_rng(5 + draw)
    mel = (rng.standard_normal((M, n_mels, T)) * 2 - 4).astype(np.float32)
    rz = rng.standard_normal((M, Pd)).astype(np.float32)
    rl = rng.standard_normal((M, K)).astype(np.float32)

    # ---- clar ----
    h_p, z_p, l_p = (ctypes.POINTER(ctypes.c_float)() for _ in range(3))
    lib.clar_net_zero_grad(net)
    rc = lib.clar_net_forward(net, fp(mel), M, T, 1, ctypes.byref(h_p), ctypes.byref(z_p),
                              ctypes.byref(l_p))
    assert rc == 0, rc
    D = layers[-1]["out"]
    h_c, z_c, l_c = arr(h_p, M * D), arr(z_p, M * Pd), arr(l_p, M * K)
    dmel = np.zeros_like(mel)
    assert lib.clar_net_backward(net, fp(rz), fp(rl), fp(dmel)) == 0

    # ---- torch, float64 ----
    t = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, (_, v) in params.items()}
    x = torch.tensor(mel, dtype=torch.float64, requires_grad=True)
    a = x.unsqueeze(1)
    bn_stats = {}
    stack = []
    near_kink = 0
    for L in layers:
        op = L["op"]
        if op in ("conv2d", "dwconv2d"):
            name = L["name"]
            if op == "conv2d":
                w = t[f"encoder.{name}.weight"].view(L["out"], L["in"], L["kernel"], L["kernel"])
                a = F.conv2d(a, w, padding=L.get("pad", 0))
                C = L["out"]
            else:
                C = L["channels"]
                w = t[f"encoder.{name}.weight"].view(C, 1, L["kernel"], L["kernel"])
                a = F.conv2d(a, w, stride=L.get("stride", 1), padding=L.get("pad", 0), groups=C)
            rm = torch.zeros(C, dtype=torch.float64)
            rv = torch.ones(C, dtype=torch.float64)
            a = F.batch_norm(a, rm, rv, t[f"bn.{name}.weight"], t[f"bn.{name}.bias"],
                             training=True, momentum=0.1, eps=1e-5)
            bn_stats[name] = (rm, rv)
        elif op == "residual_begin":
            stack.append(a)
        elif op == "residual_add":
            a = a + stack.pop()
        elif op == "relu":
            r = a.detach().abs()
            near_kink += int((r < 1e-6 * r.max()).sum())
            a = F.relu(a)
        elif op == "maxpool2d":
            a = F.max_pool2d(a, L["kernel"])
        elif op == "avgpool2d":
            a = F.avg_pool2d(a, L["kernel"])
        elif op == "global_avg_pool":
            a = a.mean(dim=(2, 3))
        elif op == "linear":
            name = L["name"]
            a = a @ t[f"encoder.{name}.weight"].view(L["out"], L["in"]).T + t[f"encoder.{name}.bias"]
        else:
            raise ValueError(f"op {op} has no reference here")
    h = a
    r1 = F.relu(h @ t["head.proj1.weight"].view(D, D).T + t["head.proj1.bias"])
    z = r1 @ t["head.proj2.weight"].view(Pd, D).T + t["head.proj2.bias"]
    wc = F.normalize(t["head.classifier.weight"].view(K, D), dim=1)
    logits = cfg.cls_scale * F.normalize(h, dim=1) @ wc.T
    loss = (z * torch.tensor(rz, dtype=torch.float64)).sum() \
        + (logits * torch.tensor(rl, dtype=torch.float64)).sum()
    loss.backward()

    checks = [("h (embedding)", h_c, h.detach().numpy().ravel(), 1e-4),
              ("z (projection)", z_c, z.detach().numpy().ravel(), 1e-4),
              ("logits (cosine head)", l_c, logits.detach().numpy().ravel(), 1e-4),
              ("d input (mel)", dmel.ravel(), x.grad.numpy().ravel(), 1e-3)]
    # BN running statistics after the step, read back from a checkpoint.
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        ck = os.path.join(d, "ck.safetensors")
        assert lib.clar_net_save_checkpoint(net, None, None, 0, ck.encode(), ctypes.byref(err)) == 0
        with open(ck, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            hdr = json.loads(fh.read(n))
            blob = fh.read()
    for name, (rm, rv) in bn_stats.items():
        for key, ref in ((f"bn.{name}.running_mean", rm), (f"bn.{name}.running_var", rv)):
            b, e = hdr[key]["data_offsets"]
            checks.append((key, np.frombuffer(blob[b:e], dtype="<f4"), ref.numpy(), 1e-4))
    gmax = max(float(np.abs(t[k].grad.numpy()).max()) for k in params)
    for k, (p, _) in params.items():
        checks.append((f"d {k}", arr(p.g, p.n), t[k].grad.numpy().ravel(), 1e-3))
    failures = 0
    for name, got, want, tol in checks:
        e = rel(got, want)
        note = ""
        if name.startswith("d ") and np.abs(want).max() < 1e-3 * gmax:
            # A parameter the loss is (nearly) invariant to, e.g. the beta of
            # a batch-norm before a 1x1 conv and a batch-norm (exactly 0):
            # its error against 0.1% of the network's largest gradient.
            e = float(np.abs(np.asarray(got, np.float64) - want).max()) / (1e-3 * gmax)
            note = " (gradient ~0: error / (1e-3 max gradient))"
        ok = e < tol
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name:34s} max rel err vs PyTorch {e:.2e}{note}")
    print(f"     ({near_kink} ReLU inputs within 1e-6 of their tensor's largest magnitude)")
    lib.clar_net_free(net)
    return failures


# A ReLU input within float32 rounding of 0 can fall on the other side of the
# kink in clar's float32 forward than in PyTorch's float64 one. One such flip
# moves the gradients it feeds by up to a few percent, which the 1e-3
# tolerance reports as a failure although both are right for the values
# they computed. dsres has ~2.6 million ReLU inputs in this batch, about 14
# of them within 1e-6 of their tensor's largest magnitude, so whether a flip
# happens depends on the BLAS kernel's rounding (seen: OpenBLAS's Haswell
# kernel on an AMD Zen 5, draw 0). So an architecture passes when one of up
# to DRAWS independent data draws matches everywhere; a wrong gradient
# formula fails every draw (its errors do not depend on where the kinks
# fall), and every draw's figures are printed.
DRAWS = 8


def main():
    lib = load()
    failures = 0
    for arch in ("cnn4", "dsres"):
        for draw in range(DRAWS):
            bad = run(lib, arch, draw)
            if not bad:
                break
            print(f"     draw {draw}: {bad} checks off (a kink flip, or a bug if every draw fails)")
        if bad:
            print(f"FAIL {arch}: every one of {DRAWS} data draws has gradients off PyTorch's")
        failures += bad
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
