#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""PyTorch twin of bench-train: same layers (conv-BN-ReLU-pool blocks, GAP,
linear embedding, projection head, cosine classifier), NT-Xent + CE, Adam.
Usage: bench_train_torch.py [BATCH_CLIPS] [STEPS] [THREADS]"""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

B = int(sys.argv[1]) if len(sys.argv) > 1 else 32
STEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
torch.set_num_threads(int(sys.argv[3]) if len(sys.argv) > 3 else 2)
K, T = 10, 101


def block(i, o, pool=True):
    layers = [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]
    return layers + ([nn.MaxPool2d(2)] if pool else [])


enc = nn.Sequential(*block(1, 16), *block(16, 32), *block(32, 64), *block(64, 128, False),
                    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 128))
proj = nn.Sequential(nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 64))
wc = nn.Parameter(torch.randn(K, 128))
opt = torch.optim.AdamW(list(enc.parameters()) + list(proj.parameters()) + [wc], lr=1e-3)
mel = torch.rand(2 * B, 1, 64, T) * 4 - 8
lab = torch.arange(2 * B) % B % K


def ntxent(z, tau=0.5):
    z = F.normalize(z, dim=1)
    s = z @ z.t() / tau
    s.fill_diagonal_(float("-inf"))
    n = z.shape[0] // 2
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(s, target)


for step in range(STEPS + 1):
    if step == 1:
        t0 = time.perf_counter()
    opt.zero_grad()
    h = enc(mel)
    loss = ntxent(proj(h)) + F.cross_entropy(10 * F.normalize(h, dim=1) @ F.normalize(wc, dim=1).t(), lab)
    loss.backward()
    opt.step()
dt = time.perf_counter() - t0
print(f"torch {torch.__version__}: batch {B} clips ({2 * B} views), {STEPS * 2 * B / dt:.1f} views/s, "
      f"{dt / STEPS * 1e3:.1f} ms/step, {torch.get_num_threads()} threads")
