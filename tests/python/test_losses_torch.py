# SPDX-License-Identifier: LGPL-2.1-or-later
"""clar-train's losses and their gradients against PyTorch autograd.

References, written independently of the C code:
  NT-Xent  SimCLR's formulation as a 2N-way cross-entropy over cosine
           similarities / tau with the diagonal masked out (DESIGN.md).
  SupCon   a transcription of SupConLoss from the authors' repository
           (HobbitLong/SupContrast, losses.py, contrast_mode='all',
           base_temperature = temperature), i.e. eq. 2 "L_out" of Khosla et al.
           2020; unlabelled clips get a label of their own.
  CE       torch.nn.functional.cross_entropy(ignore_index=-1).
  mixup    cross_entropy with class-probability targets (PyTorch >= 1.10):
           lambda one_hot(y) + (1 - lambda) one_hot(y'), over labelled rows.
  hybrid   contrastive + lambda * CE (CLAR).
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


def load():
    lib = load_train_lib()
    f = ctypes.POINTER(ctypes.c_float)
    i = ctypes.POINTER(ctypes.c_int)
    d = ctypes.POINTER(ctypes.c_double)
    I, Fl = ctypes.c_int, ctypes.c_float
    for name, args in [
        ("clar_loss_ntxent", [f, I, I, Fl, f]),
        ("clar_loss_supcon", [f, I, I, Fl, i, f]),
        ("clar_loss_ce", [f, I, I, i, f]),
        ("clar_loss_ce_mixup", [f, I, I, i, i, f, f]),
        ("clar_loss_hybrid", [f, f, I, I, I, i, I, Fl, Fl, f, f, d, d]),
    ]:
        fn = getattr(lib, name)
        fn.restype = ctypes.c_double
        fn.argtypes = args
    return lib


def fp(a):
    assert a.dtype == np.float32 and a.flags["C_CONTIGUOUS"]
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def ip(a):
    assert a.dtype == np.int32 and a.flags["C_CONTIGUOUS"]
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_int))


def ntxent_ref(z, N, tau):
    zn = F.normalize(z, dim=1)
    sim = zn @ zn.T / tau
    sim = sim.masked_fill(torch.eye(2 * N, dtype=torch.bool), float("-inf"))
    target = (torch.arange(2 * N) + N) % (2 * N)
    return F.cross_entropy(sim, target)


def supcon_ref(z, N, tau, labels):
    """SupConLoss.forward of HobbitLong/SupContrast (contrast_mode='all')."""
    lab = torch.tensor([l if l >= 0 else -1 - i for i, l in enumerate(labels)])
    features = torch.stack([z[:N], z[N:]], dim=1)           # [bsz, n_views, dim]
    features = F.normalize(features, dim=2)
    batch_size = features.shape[0]
    lab = lab.contiguous().view(-1, 1)
    mask = torch.eq(lab, lab.T).double()
    contrast_count = features.shape[1]
    contrast_feature = torch.cat(torch.unbind(features, dim=1), dim=0)
    anchor_feature, anchor_count = contrast_feature, contrast_count
    anchor_dot_contrast = anchor_feature @ contrast_feature.T / tau
    logits_max, _ = torch.max(anchor_dot_contrast, dim=1, keepdim=True)
    logits = anchor_dot_contrast - logits_max.detach()
    mask = mask.repeat(anchor_count, contrast_count)
    logits_mask = torch.ones_like(mask)
    logits_mask[torch.arange(batch_size * anchor_count), torch.arange(batch_size * anchor_count)] = 0
    mask = mask * logits_mask
    exp_logits = torch.exp(logits) * logits_mask
    log_prob = logits - torch.log(exp_logits.sum(1, keepdim=True))
    mean_log_prob_pos = (mask * log_prob).sum(1) / mask.sum(1)
    loss = -(tau / tau) * mean_log_prob_pos
    return loss.view(anchor_count, batch_size).mean()


def ce_ref(logits, labels2):
    if (labels2 >= 0).sum() == 0:
        return logits.sum() * 0
    return F.cross_entropy(logits, labels2, ignore_index=-1)


def ce_mixup_ref(logits, labels2, labels_b, lam):
    keep = labels2 >= 0
    if keep.sum() == 0:
        return logits.sum() * 0
    K = logits.shape[1]
    a = F.one_hot(labels2[keep], K).double()
    lb = labels_b[keep]
    has_b = (lb >= 0) & (lb < K)
    la = torch.where(has_b, lam[keep], torch.ones_like(lam[keep]))
    b = F.one_hot(lb.clamp(min=0), K).double() * has_b[:, None]
    target = la[:, None] * a + (1 - la)[:, None] * b
    return F.cross_entropy(logits[keep], target)


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-6))


def main():
    lib = load()
    rng = np.random.default_rng(20240611)
    worst = {"ntxent": 0.0, "supcon": 0.0, "ce": 0.0, "mixup": 0.0, "hybrid": 0.0}
    failures = 0
    for N, P, K, tau in [(1, 8, 3, 0.5), (4, 8, 3, 0.5), (16, 64, 10, 0.5), (16, 64, 10, 0.1),
                         (32, 128, 5, 0.2)]:
        z = rng.standard_normal((2 * N, P)).astype(np.float32)
        logits = (3 * rng.standard_normal((2 * N, K))).astype(np.float32)
        labels = rng.integers(-1, K, N).astype(np.int32)
        labels[0] = 0
        labels2 = np.concatenate([labels, labels]).astype(np.int32)
        lam = 0.7
        # Mixup's partners: about half the rows mixed, lambda in [0.5, 1).
        labels_b = rng.integers(0, K, 2 * N).astype(np.int32)
        labels_b[rng.random(2 * N) < 0.5] = -1
        mix = (0.5 + 0.5 * rng.random(2 * N)).astype(np.float32)

        zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
        lt = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
        refs = {
            "ntxent": lambda: ntxent_ref(zt, N, tau),
            "supcon": lambda: supcon_ref(zt, N, tau, labels.tolist()),
            "ce": lambda: ce_ref(lt, torch.tensor(labels2, dtype=torch.long)),
            "mixup": lambda: ce_mixup_ref(lt, torch.tensor(labels2, dtype=torch.long),
                                          torch.tensor(labels_b, dtype=torch.long),
                                          torch.tensor(mix, dtype=torch.float64)),
            "hybrid": lambda: ntxent_ref(zt, N, tau)
            + lam * ce_ref(lt, torch.tensor(labels2, dtype=torch.long)),
        }
        for name, ref in refs.items():
            zt.grad = None
            lt.grad = None
            r = ref()
            r.backward()
            dz = np.zeros_like(z)
            dl = np.zeros_like(logits)
            if name == "ntxent":
                got = lib.clar_loss_ntxent(fp(z), N, P, tau, fp(dz))
            elif name == "supcon":
                got = lib.clar_loss_supcon(fp(z), N, P, tau, ip(labels), fp(dz))
            elif name == "ce":
                got = lib.clar_loss_ce(fp(logits), 2 * N, K, ip(labels2), fp(dl))
            elif name == "mixup":
                got = lib.clar_loss_ce_mixup(fp(logits), 2 * N, K, ip(labels2), ip(labels_b),
                                             fp(mix), fp(dl))
            else:
                lc, lce = ctypes.c_double(), ctypes.c_double()
                got = lib.clar_loss_hybrid(fp(z), fp(logits), N, P, K, ip(labels), 0, tau, lam,
                                           fp(dz), fp(dl), ctypes.byref(lc), ctypes.byref(lce))
            want = float(r.item())
            e = abs(got - want) / max(abs(want), 1e-6)
            if zt.grad is not None:
                e = max(e, rel(dz, zt.grad.numpy()))
            if lt.grad is not None:
                e = max(e, rel(dl, lt.grad.numpy()))
            worst[name] = max(worst[name], e)
            if not e < 1e-4:
                failures += 1
                print(f"FAIL {name} N={N} P={P} K={K} tau={tau}: clar {got:.7g} torch {want:.7g}"
                      f" (loss/gradient rel err {e:.3g})")
    for name, e in worst.items():
        print(f"{name:7s} vs PyTorch: max rel err (loss and gradient) {e:.2e}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
