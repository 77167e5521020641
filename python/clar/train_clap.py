# SPDX-License-Identifier: LGPL-2.1-or-later
"""clar-train --clap in PyTorch (tools/clar-train-clap.c): trains the text
tower (include/clar/text.h) on a frozen encoder with the symmetric CLAP
loss, on one process or many.

    python3 -m clar.train --clap --init MODEL --data MANIFEST.tsv --out NEW_MODEL
    torchrun --nproc_per_node 2 -m clar.train --clap --init MODEL ...

The clips of --split are embedded once with MODEL's encoder (clip vector =
normalised mean of the window embeddings, windows of the model's length
every half window, as tools/clip-embed.c). Each step every worker draws
--batch-size clips with replacement and one caption of each (clar.captions,
the rules of src/train/clap.c); texts and audio rows of all workers are
gathered (texts with gradients) so the loss sees the global batch, with
multi-positive targets for identical captions. NEW_MODEL holds every
tensor and key of MODEL unchanged plus the tower."""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from . import captions, data, losses
from .model import ModelFile
from .nn import ClarModel
from .text import make_tower
from .train import Dist, log, lr_schedule


def embed_clip(cm, pcm, W):
    """tools/clip-embed.c: windows of W samples every W/2 (a short clip or
    the last partial window zero-padded), normalised mean."""
    n = len(pcm)
    wins = []
    start = 0
    while start == 0 or start + W // 2 <= n:
        w = np.zeros(W, np.float32)
        valid = min(W, n - start)
        w[:valid] = pcm[start:start + valid]
        wins.append(w)
        if valid < W:
            break
        start += W // 2
    with torch.no_grad():
        e = cm.embed(torch.from_numpy(np.stack(wins))).sum(0)
    return F.normalize(e, dim=0).numpy()


def parse(argv):
    p = argparse.ArgumentParser(prog="python3 -m clar.train --clap")
    p.add_argument("--init", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--split", default="train")
    p.add_argument("--holdout", default="", help="classes left out of training (A,B,...)")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=128, help="clips per worker and step")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--lr-min", type=float, default=3e-5)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=1e-5)
    p.add_argument("--buckets", type=int, default=8192)
    p.add_argument("--text-dim", type=int, default=128)
    p.add_argument("--char-ngram", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cache", default=None)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    a = p.parse_args(argv)
    if (a.steps < 1 or a.batch_size < 2 or not 1 <= a.text_dim <= 4096
            or not 1 <= a.buckets <= 1 << 20 or not a.lr > 0 or a.weight_decay < 0
            or (a.char_ngram != 0 and not 2 <= a.char_ngram <= 6) or a.warmup < 0):
        p.error("an option is out of range")
    return a


def main(argv):
    a = parse(argv)
    torch.set_num_threads(a.threads)
    d = Dist(a.device)
    mf = ModelFile.load(a.init)
    cm = ClarModel(mf)
    W = mf.window_samples
    clips = data.read_manifest(a.data, a.split)
    if d.main:
        clips = data.load_audio(clips, mf.mel.sample_rate, a.cache)
    d.barrier()
    if not d.main:
        clips = data.load_audio(clips, mf.mel.sample_rate, a.cache)
    names = data.index_classes(clips)
    held = set(filter(None, a.holdout.split(",")))
    t0 = time.monotonic()
    # Each worker embeds every W-th clip; the rows are then shared.
    D = mf.embedding_dim
    E = np.zeros((len(clips), D), np.float32)
    for i in range(d.rank, len(clips), d.world):
        E[i] = embed_clip(cm, clips[i].pcm, W)
    if d.world > 1:
        Et = torch.from_numpy(E)
        dist.all_reduce(Et)
        E = Et.numpy()
    pool = [i for i, c in enumerate(clips) if c.class_id >= 0 and c.label not in held]
    log(d, f"clar.train --clap: {len(clips)} clips embedded in {time.monotonic() - t0:.1f} s; "
           f"{len(pool)} train the tower ({len(held & set(names))} of {len(names)} classes held out)")
    if len(pool) < a.batch_size:
        log(d, f"clar.train --clap: {len(pool)} clips but --batch-size {a.batch_size}")
        return 1
    tower = make_tower(a.buckets, a.text_dim, D, a.seed, a.char_ngram).to(d.device)
    model = tower
    if d.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            tower, device_ids=[d.local_rank] if d.device.type == "cuda" else None)
    opt = torch.optim.AdamW([
        {"params": [tower.embedding.weight, tower.proj.weight], "weight_decay": a.weight_decay},
        {"params": [tower.proj.bias, tower.log_scale], "weight_decay": 0.0}],
        lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    Et = torch.from_numpy(E).to(d.device)
    avg = 0.0
    t0 = time.monotonic()
    for step in range(a.steps):
        rng = np.random.default_rng([a.seed, step, d.rank])
        idx = [pool[j] for j in rng.integers(len(pool), size=a.batch_size)]
        texts = []
        for ci in idx:
            c = clips[ci]
            meta = (c.path, c.label, c.source, c.group, c.caption)
            k = int(rng.integers(captions.n_captions(*meta)))
            texts.append(captions.caption(*meta, k) or captions.caption(*meta, 0))
        T = losses.gather_with_grad(model(texts))
        A = losses.gather_nograd(Et[idx])
        all_texts = texts
        if d.world > 1:
            parts = [None] * d.world
            dist.all_gather_object(parts, texts, group=d.group)
            all_texts = [t for p in parts for t in p]
        gid = {}
        group = torch.tensor([gid.setdefault(t, len(gid)) for t in all_texts], device=d.device)
        loss = losses.clap_loss(T, A, tower.log_scale, group)
        if not math.isfinite(float(loss)):
            log(d, f"clar.train --clap: loss is not finite at step {step}")
            return 1
        lr = lr_schedule(step, a.warmup, a.steps, a.lr, a.lr_min)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        # The temperature's gradient is alike on every worker (the loss is
        # the global one), so DDP's average leaves it unchanged.
        loss.backward()
        opt.step()
        with torch.no_grad():
            # CLIP (Radford et al. 2021, sec. 2.5) clips the scale at 100.
            tower.log_scale.clamp_(0.0, math.log(100.0))
        avg = 0.98 * avg + 0.02 * float(loss) if step else float(loss)
        if (step + 1) % 250 == 0 or step + 1 == a.steps:
            log(d, f"clap step {step + 1}/{a.steps} loss {float(loss):.4f} (avg {avg:.4f}) "
                   f"scale {math.exp(float(tower.log_scale)):.2f} lr {lr:.2e} "
                   f"{time.monotonic() - t0:.1f} s")
    if d.main:
        out = ModelFile(mf.metadata, mf.tensors)
        tower.to_model_file(out, {"clar.text.training": "python3 -m clar.train --clap " + " ".join(argv),
                                  "clar.text.training_steps": str(a.steps),
                                  "clar.text.holdout": a.holdout})
        # Trained on this encoder's embeddings: record its fingerprint, as
        # clar-train --clap does (text.h).
        out.metadata["clar.text.encoder_fingerprint"] = out.fingerprint()
        out.save(a.out)
        log(d, f"clar.train --clap: wrote {a.out}")
    d.barrier()
    d.close()
    return 0
