# SPDX-License-Identifier: LGPL-2.1-or-later
"""CLAP training (src/train/clap.c) against PyTorch autograd.

References, written independently of the C code:
  loss    CLAP (Elizalde et al. 2022, arXiv 2206.04769) as in DESIGN.md:
          C = exp(t) * T @ A.T; 0.5 * (cross_entropy(C, arange) +
          cross_entropy(C.T, arange)); with caption groups, the soft target
          q = [g_i == g_j] normalised per row (per column for C.T).
  tower   h = mean of E[ids], u = W h + b, t = u / |u| (text.h), then the
          loss above; autograd gives dE, dW, db and d t. With feature
          weights (WordNet expansion, text.h step 2b) h = sum w E[ids] / sum w.
Run through meson (CLAR_TRAIN_LIBRARY = the trainer's shared twin); exits 77
when numpy or torch is missing.
"""
import ctypes
import sys

from clar_ctypes import load_train_lib
from clar_testutil import imports_or_skip

with imports_or_skip():
    import numpy as np
    import torch
    import torch.nn.functional as F

fptr = ctypes.POINTER(ctypes.c_float)


class TextParams(ctypes.Structure):
    _fields_ = [("seed", ctypes.c_uint32), ("n_buckets", ctypes.c_uint32),
                ("char_ngram", ctypes.c_int)]


class Tower(ctypes.Structure):
    # Mirrors clar_clap_tower in src/train/clap.h.
    _fields_ = [("params", TextParams), ("dim", ctypes.c_size_t), ("out_dim", ctypes.c_size_t),
                ("E", fptr), ("W", fptr), ("b", fptr), ("log_scale", ctypes.c_float),
                ("gE", fptr), ("gW", fptr), ("gb", fptr), ("g_log_scale", ctypes.c_float),
                ("m", fptr), ("v", fptr), ("step", ctypes.c_long)]


class Texts(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int), ("ids", ctypes.POINTER(ctypes.c_uint32)),
                ("offsets", ctypes.POINTER(ctypes.c_size_t)), ("weights", fptr)]


def load():
    lib = load_train_lib()
    I = ctypes.c_int
    lib.clar_clap_loss.restype = ctypes.c_double
    lib.clar_clap_loss.argtypes = [fptr, fptr, I, I, ctypes.c_float, ctypes.POINTER(I),
                                   fptr, fptr, fptr]
    lib.clar_clap_tower_new.restype = ctypes.POINTER(Tower)
    lib.clar_clap_tower_new.argtypes = [ctypes.POINTER(TextParams), ctypes.c_size_t,
                                        ctypes.c_size_t, ctypes.c_uint64]
    lib.clar_clap_tower_free.argtypes = [ctypes.POINTER(Tower)]
    lib.clar_clap_tower_forward.restype = I
    lib.clar_clap_tower_forward.argtypes = [ctypes.POINTER(Tower), ctypes.POINTER(Texts),
                                            fptr, fptr, fptr]
    lib.clar_clap_tower_backward.argtypes = [ctypes.POINTER(Tower), ctypes.POINTER(Texts),
                                             fptr, fptr, fptr, fptr]
    lib.clar_clap_tower_zero_grad.argtypes = [ctypes.POINTER(Tower)]
    lib.clar_text_features.restype = I
    lib.clar_text_features.argtypes = [ctypes.POINTER(TextParams), ctypes.c_char_p,
                                       ctypes.POINTER(ctypes.c_uint32), ctypes.c_size_t]
    return lib


def fp(a):
    assert a.dtype == np.float32 and a.flags["C_CONTIGUOUS"]
    return a.ctypes.data_as(fptr)


def ref_loss(T, A, log_scale, groups):
    C = torch.exp(log_scale) * T @ A.T
    n = C.shape[0]
    if groups is None:
        tgt = torch.arange(n)
        return 0.5 * (F.cross_entropy(C, tgt) + F.cross_entropy(C.T, tgt))
    g = torch.as_tensor(groups)
    Q = (g[:, None] == g[None, :]).double()
    lr = -(Q / Q.sum(1, keepdim=True) * F.log_softmax(C, dim=1)).sum(1).mean()
    lc = -(Q / Q.sum(0, keepdim=True) * F.log_softmax(C, dim=0)).sum(0).mean()
    return 0.5 * (lr + lc)


def unit(rng, n, d):
    x = rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def check(name, got, want, tol):
    err = float(np.max(np.abs(np.asarray(got, dtype=np.float64) - np.asarray(want, dtype=np.float64))))
    ok = err <= tol
    print(f"{'ok  ' if ok else 'FAIL'} {name}: max |diff| {err:.3g} (tol {tol:g})")
    return ok


def test_loss(lib, rng):
    ok = True
    for n, d, groups in [(6, 8, None), (16, 32, None), (8, 5, [0, 1, 0, 2, 1, 3, 4, 0]),
                         (32, 16, list(rng.integers(0, 6, 32)))]:
        T, A = unit(rng, n, d), unit(rng, n, d)
        ls = np.float32(rng.uniform(0.5, 3.0))
        dT, dA, dls = np.zeros_like(T), np.zeros_like(A), ctypes.c_float()
        g = None if groups is None else (ctypes.c_int * n)(*[int(x) for x in groups])
        loss = lib.clar_clap_loss(fp(T), fp(A), n, d, ls, g, fp(dT), fp(dA), ctypes.byref(dls))
        tT = torch.tensor(T, dtype=torch.float64, requires_grad=True)
        tA = torch.tensor(A, dtype=torch.float64, requires_grad=True)
        tl = torch.tensor(float(ls), dtype=torch.float64, requires_grad=True)
        ref = ref_loss(tT, tA, tl, groups)
        ref.backward()
        tag = f"N={n} D={d} {'diagonal' if groups is None else 'groups'}"
        ok &= check(f"loss {tag}", loss, ref.item(), 1e-5)
        ok &= check(f"dT {tag}", dT, tT.grad.numpy(), 1e-6)
        ok &= check(f"dA {tag}", dA, tA.grad.numpy(), 1e-6)
        ok &= check(f"dlog_scale {tag}", dls.value, tl.grad.item(), 1e-5)
    return ok


def test_tower(lib, rng, weighted):
    params = TextParams(5, 97, 3)
    dim, out_dim = 12, 10
    tw = lib.clar_clap_tower_new(ctypes.byref(params), dim, out_dim, 11)
    texts = [b"a dog barking", b"the word seven", b"dog", b"a flute note, C5, loud",
             b"seven spoken slowly", b"silence"]
    groups = [0, 1, 0, 2, 3, 4]
    ids, offs = [], [0]
    for t in texts:
        buf = (ctypes.c_uint32 * 256)()
        k = lib.clar_text_features(ctypes.byref(params), t, buf, 256)
        ids += list(buf[:k])
        offs.append(len(ids))
    n = len(texts)
    c_ids = (ctypes.c_uint32 * len(ids))(*ids)
    c_off = (ctypes.c_size_t * len(offs))(*offs)
    wts = rng.uniform(0.05, 1.0, len(ids)).astype(np.float32) if weighted \
        else np.ones(len(ids), np.float32)
    x = Texts(n, c_ids, c_off, fp(wts) if weighted else None)
    A = unit(rng, n, out_dim)
    T = np.zeros((n, out_dim), np.float32)
    H = np.zeros((n, dim), np.float32)
    un = np.zeros(n, np.float32)
    dT = np.zeros_like(T)
    dls = ctypes.c_float()
    assert lib.clar_clap_tower_forward(tw, ctypes.byref(x), fp(T), fp(H), fp(un)) == 0
    t = tw.contents
    loss = lib.clar_clap_loss(fp(T), fp(A), n, out_dim, t.log_scale,
                              (ctypes.c_int * n)(*groups), fp(dT), None, ctypes.byref(dls))
    lib.clar_clap_tower_zero_grad(tw)
    lib.clar_clap_tower_backward(tw, ctypes.byref(x), fp(T), fp(H), fp(un), fp(dT))

    def arr(p, count):
        return np.ctypeslib.as_array(p, shape=(count,)).copy()

    E = torch.tensor(arr(t.E, 97 * dim).reshape(97, dim), dtype=torch.float64, requires_grad=True)
    W = torch.tensor(arr(t.W, out_dim * dim).reshape(out_dim, dim), dtype=torch.float64,
                     requires_grad=True)
    b = torch.tensor(arr(t.b, out_dim), dtype=torch.float64, requires_grad=True)
    ls = torch.tensor(float(t.log_scale), dtype=torch.float64, requires_grad=True)
    tw_ = torch.tensor(wts, dtype=torch.float64)
    h = torch.stack([(tw_[offs[i]:offs[i + 1], None] * E[torch.as_tensor(ids[offs[i]:offs[i + 1]])]
                      ).sum(0) / tw_[offs[i]:offs[i + 1]].sum() for i in range(n)])
    Tt = F.normalize(h @ W.T + b, dim=1)
    ref = ref_loss(Tt, torch.tensor(A, dtype=torch.float64), ls, groups)
    ref.backward()
    tag = "weighted " if weighted else ""
    ok = check(f"{tag}tower forward (unit rows)", T, Tt.detach().numpy(), 1e-5)
    ok &= check(f"{tag}tower loss", loss, ref.item(), 1e-5)
    ok &= check(f"{tag}tower dE", arr(t.gE, 97 * dim), E.grad.numpy().ravel(), 1e-5)
    ok &= check(f"{tag}tower dW", arr(t.gW, out_dim * dim), W.grad.numpy().ravel(), 1e-5)
    ok &= check(f"{tag}tower db", arr(t.gb, out_dim), b.grad.numpy(), 1e-5)
    ok &= check(f"{tag}tower dlog_scale", dls.value, ls.grad.item(), 1e-5)
    lib.clar_clap_tower_free(tw)
    return ok


def main():
    lib = load()
    rng = np.random.default_rng(6)
    ok = test_loss(lib, rng)
    ok &= test_tower(lib, rng, False)
    ok &= test_tower(lib, rng, True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
