# SPDX-License-Identifier: LGPL-2.1-or-later
"""ONNX export (python -m clar.onnx, python/clar/onnx.py) against libclar.

Debian 12 ships python3-onnx (the format, checker) but no ONNX runtime, so
the exported graph is run by a small numpy evaluator written here for the
operators the exporter emits (any other operator fails the test). For the
shipped model, a model with an explicit batch-norm and an average pool, and
one with depthwise convs (stride 2) and a residual block: the file passes
onnx.checker; its "embedding" output equals
clar_session_encode on the same log-mel within 1e-4 (for 101 and 57
frames: the frame axis is dynamic) and "scores" equals clar_labels_score."""
import ctypes
import os
import sys
import tempfile

from clar_ctypes import Error, fptr, load_lib
from clar_testutil import ROOT, imports_or_skip

with imports_or_skip(pyclar=True):
    import numpy as np
    import onnx
    import torch
    from onnx import numpy_helper
    from clar import onnx as clar_onnx
    from clar.model import MelParams
    from clar.nn import TrainNet

torch.set_num_threads(1)


def conv2d(x, w, b, pads, strides, group):
    """NCHW grouped, strided convolution (im2col), symmetric pads."""
    assert pads[0] == pads[2] and pads[1] == pads[3]
    N, C, H, W_ = x.shape
    O, Cg, kh, kw = w.shape
    sh, sw = strides
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[0]), (pads[1], pads[1])))
    Ho, Wo = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    cols = np.empty((N, C, kh, kw, Ho, Wo), np.float64)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw]
    Og = O // group
    y = np.concatenate([np.einsum("ockl,ncklhw->nohw", w[g * Og:(g + 1) * Og].astype(np.float64),
                                  cols[:, g * Cg:(g + 1) * Cg]) for g in range(group)], axis=1)
    return y + (b[None, :, None, None] if b is not None else 0)


def pool(x, k, s, pads, ceil, mode):
    assert pads == [0, 0, 0, 0] and ceil == 0 and k == s
    N, C, H, W_ = x.shape
    Ho, Wo = (H - k[0]) // s[0] + 1, (W_ - k[1]) // s[1] + 1
    v = x[:, :, :Ho * k[0], :Wo * k[1]].reshape(N, C, Ho, k[0], Wo, k[1])
    return v.max(axis=(3, 5)) if mode == "max" else v.mean(axis=(3, 5))


def run(model, feeds):
    env = {i.name: numpy_helper.to_array(i).astype(np.float64) if i.data_type == 1
           else numpy_helper.to_array(i) for i in model.graph.initializer}
    env.update(feeds)
    print("operators:", " ".join(sorted({n.op_type for n in model.graph.node})))
    for n in model.graph.node:
        a = {x.name: onnx.helper.get_attribute_value(x) for x in n.attribute}
        x = [env[i] if i else None for i in n.input]
        op = n.op_type
        if op == "Conv":
            y = conv2d(x[0], x[1], x[2] if len(x) > 2 else None, a.get("pads", [0] * 4),
                       a.get("strides", [1, 1]), a.get("group", 1))
        elif op == "Relu":
            y = np.maximum(x[0], 0)
        elif op in ("MaxPool", "AveragePool"):
            y = pool(x[0], a["kernel_shape"], a["strides"], a.get("pads", [0] * 4),
                     a.get("ceil_mode", 0), "max" if op == "MaxPool" else "avg")
        elif op == "BatchNormalization":
            sh = (1, -1, 1, 1)
            y = ((x[0] - x[3].reshape(sh)) / np.sqrt(x[4].reshape(sh) + a.get("epsilon", 1e-5))
                 * x[1].reshape(sh) + x[2].reshape(sh))
        elif op == "ReduceMean":
            y = x[0].mean(axis=tuple(a["axes"]), keepdims=bool(a.get("keepdims", 1)))
        elif op == "ReduceL2":
            y = np.sqrt((x[0] ** 2).sum(axis=tuple(a["axes"]), keepdims=bool(a.get("keepdims", 1))))
        elif op == "Gemm":
            B = x[1].T if a.get("transB", 0) else x[1]
            A = x[0].T if a.get("transA", 0) else x[0]
            y = a.get("alpha", 1.0) * A @ B + (a.get("beta", 1.0) * x[2] if len(x) > 2 else 0)
        elif op == "MatMul":
            y = x[0] @ x[1]
        elif op == "Constant":
            y = numpy_helper.to_array(a["value"]).astype(np.float64)
        elif op == "Clip":
            y = x[0]
            if len(x) > 1 and x[1] is not None:
                y = np.maximum(y, x[1])
            if len(x) > 2 and x[2] is not None:
                y = np.minimum(y, x[2])
        elif op == "Shape":
            y = np.array(x[0].shape, np.int64)
        elif op == "Expand":
            y = x[0] * np.ones(tuple(int(v) for v in x[1]))
        elif op in ("Div", "Mul", "Add", "Sub"):
            y = {"Div": np.divide, "Mul": np.multiply, "Add": np.add, "Sub": np.subtract}[op](x[0], x[1])
        elif op == "Softmax":
            e = np.exp(x[0] - x[0].max(axis=a.get("axis", -1), keepdims=True))
            y = e / e.sum(axis=a.get("axis", -1), keepdims=True)
        elif op == "Pad":
            assert a.get("mode", b"constant") in (b"constant", "constant")
            p = [int(v) for v in x[1]]
            h = len(p) // 2
            y = np.pad(x[0], list(zip(p[:h], p[h:])),
                       constant_values=float(x[2]) if len(x) > 2 and x[2] is not None else 0.0)
        elif op == "Flatten":
            y = x[0].reshape(x[0].shape[0], -1)
        else:
            raise NotImplementedError(f"ONNX op {op} is not handled by this test's evaluator")
        env[n.output[0]] = y
    return [env[o.name] for o in model.graph.output]


lib = load_lib()
lib.clar_model_get_labels.restype = ctypes.c_void_p
lib.clar_model_get_labels.argtypes = [ctypes.c_void_p]
lib.clar_labels_score.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float),
                                  ctypes.POINTER(ctypes.c_float), ctypes.POINTER(ctypes.c_float)]
tmp = tempfile.mkdtemp()


def trained_export(arch, n_classes, seed, name, labels):
    """A TrainNet for arch whose batch-norm statistics two train-mode
    batches have moved, saved (eval mode, batch-norm folded) as tmp/name."""
    net = TrainNet(arch, n_classes=n_classes, proj_dim=8, seed=seed)
    net.train()
    with torch.no_grad():
        for _ in range(2):
            net(torch.randn(4, 64, 101) * 2 - 5)
    net.eval()
    path = os.path.join(tmp, name)
    net.to_model_file(MelParams(), 16000, 8000, list(labels)).save(path)
    return path


models = []
shipped = os.path.join(ROOT, "models", "clar-default.safetensors")
if os.path.exists(shipped):
    models.append(("shipped model", shipped))
arch = [
    {"op": "conv2d", "name": "conv1", "in": 1, "out": 8, "kernel": 3, "pad": 1},
    {"op": "batchnorm2d", "name": "bn1", "channels": 8, "eps": 1e-3},
    {"op": "relu"}, {"op": "avgpool2d", "kernel": 2},
    {"op": "conv2d", "name": "conv2", "in": 8, "out": 16, "kernel": 3, "pad": 1},
    {"op": "relu"}, {"op": "maxpool2d", "kernel": 2},
    {"op": "global_avg_pool"}, {"op": "linear", "name": "embed", "in": 16, "out": 24},
]
models.append(("model with batch-norm and average pool",
               trained_export(arch, 5, 9, "bn.safetensors", "abcde")))
arch_res = [
    {"op": "conv2d", "name": "stem", "in": 1, "out": 8, "kernel": 3, "pad": 1},
    {"op": "relu"}, {"op": "maxpool2d", "kernel": 2},
    {"op": "residual_begin"},
    {"op": "conv2d", "name": "b1e", "in": 8, "out": 16, "kernel": 1, "pad": 0}, {"op": "relu"},
    {"op": "dwconv2d", "name": "b1d", "channels": 16, "kernel": 3, "pad": 1, "stride": 1},
    {"op": "relu"}, {"op": "conv2d", "name": "b1p", "in": 16, "out": 8, "kernel": 1, "pad": 0},
    {"op": "residual_add"},
    {"op": "dwconv2d", "name": "b2d", "channels": 8, "kernel": 3, "pad": 1, "stride": 2},
    {"op": "relu"}, {"op": "global_avg_pool"},
    {"op": "linear", "name": "embed", "in": 8, "out": 24},
]
models.append(("model with dwconv2d (stride 2) and a residual block",
               trained_export(arch_res, 3, 4, "res.safetensors", "xyz")))

rng = np.random.default_rng(5)
fails = 0
for what, path in models:
    out = os.path.join(tmp, "m.onnx")
    clar_onnx.export(path, out)
    om = onnx.load(out)
    onnx.checker.check_model(om)
    err = Error()
    m = ctypes.c_void_p()
    assert lib.clar_model_load_file(path.encode(), ctypes.byref(m), ctypes.byref(err)) == 0
    s = lib.clar_session_new(m, ctypes.byref(err))
    labels = lib.clar_model_get_labels(m)
    worst_e = worst_s = 0.0
    for T in (101, 57):
        mel = (rng.standard_normal((2, 1, 64, T)) * 3 - 6).astype(np.float32)
        emb, scores = run(om, {"logmel": mel.astype(np.float64)})
        for b in range(2):
            ref = np.zeros(emb.shape[1], np.float32)
            assert lib.clar_session_encode(s, fptr(np.ascontiguousarray(mel[b, 0])), T, fptr(ref)) == 0
            probs = np.zeros(scores.shape[1], np.float32)
            lib.clar_labels_score(labels, fptr(ref), fptr(probs), None)
            worst_e = max(worst_e, float(np.abs(emb[b] - ref).max()))
            worst_s = max(worst_s, float(np.abs(scores[b] - probs).max()))
    ok = worst_e < 1e-4 and worst_s < 1e-4
    print(f"{'ok  ' if ok else 'FAIL'} {what}: ONNX valid (opset "
          f"{om.opset_import[0].version}, {len(om.graph.node)} nodes), embedding max |onnx - "
          f"libclar| {worst_e:.3g}, scores {worst_s:.3g} (limit 1e-4)")
    fails += not ok
    lib.clar_session_free(s)
    lib.clar_model_unref(m)
sys.exit(1 if fails else 0)
