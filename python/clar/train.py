# SPDX-License-Identifier: LGPL-2.1-or-later
"""clar-train in PyTorch, on one process or many (torch.distributed).

    python3 -m clar.train --data MANIFEST.tsv --out DIR [options]
    torchrun --nproc_per_node 2 -m clar.train --data ... --out DIR [options]
    python3 -m clar.train --clap --init MODEL --data MANIFEST.tsv --out NEW_MODEL

The network, losses, optimiser, schedule, sampling and export are those of
clar-train (tools/clar-train.c, src/train/): the encoder of a layer list
with a batch-norm after every conv, projection head, cosine classifier;
NT-Xent / SupCon / cross-entropy / hybrid; AdamW with linear warm-up and
cosine decay; the augmentations of src/train/augment.c (clar.augment);
model.safetensors with batch-norm folded into the convs, which clarembed
loads unchanged.

Distributed: with torchrun (WORLD_SIZE > 1) each worker takes
--batch-size clips per step (the global batch is W x that), the
contrastive losses see every worker's views (negatives gathered with
gradients, clar.losses), DistributedDataParallel averages gradients.
Backend gloo on CPU, NCCL on GPUs. The clips of a step and their
augmentations depend only on (--seed, step, position in the global
batch), so a run's data does not depend on how the global batch is split.
Batch-norm statistics are per worker (SyncBatchNorm with --sync-bn, GPUs
only in PyTorch 1.13).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from . import augment, data, losses
from .model import MelParams, ModelFile
from .nn import DEFAULT_ARCHITECTURE, ClarModel, LogMel, TrainNet


def lr_schedule(step, warmup, total, lr_max, lr_min):
    """clar_lr_schedule: linear warm-up, then cosine decay to lr_min
    (SGDR without restarts, Loshchilov & Hutter 2017)."""
    if step < warmup:
        return lr_max * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    t = min(max(t, 0.0), 1.0)
    return lr_min + (lr_max - lr_min) * (1 + math.cos(math.pi * t)) / 2


class Dist:
    """Rank, world size, device; init from torchrun's environment."""

    def __init__(self, device_arg):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = device_arg == "cuda" or (device_arg == "auto" and torch.cuda.is_available())
        if use_cuda:
            torch.cuda.set_device(self.local_rank)
            self.device = torch.device("cuda", self.local_rank)
        else:
            self.device = torch.device("cpu")
        self.group = None
        if self.world > 1:
            dist.init_process_group("nccl" if use_cuda else "gloo")
            # The losses' collectives get a group of their own, apart from
            # DDP's gradient buckets.
            self.group = dist.new_group()
            losses.set_process_group(self.group)

    @property
    def main(self):
        return self.rank == 0

    def barrier(self):
        if self.world > 1:
            dist.barrier()

    def close(self):
        if self.world > 1:
            dist.destroy_process_group()


def log(d, *a):
    if d.main:
        print(*a, file=sys.stderr, flush=True)


class Batches(torch.utils.data.Dataset):
    """Item `step`: this worker's share of the step's global batch, as
    (views [2B, window] float32 with view a of clip b at row b and view b
    at B + b, labels [B], global slots [B], SpecAugment frequency masks
    [2B, 2, 2] for augment.apply_fmask on the views' log-mels)."""

    def __init__(self, clips, use, B, world, rank, window, aug, seed, balance, n_classes,
                 n_mels=MelParams.n_mels):
        self.clips, self.use = clips, np.asarray(use)
        self.n_mels = n_mels
        self.B, self.world, self.rank, self.window = B, world, rank, window
        # balance: clar-train's --balance P (True means 1, False 0).
        self.aug, self.seed, self.balanced = aug, int(seed), float(balance) > 0
        self.G = B * world
        self.spe = max(1, len(use) // self.G)
        self.perm_epoch, self.perm = -1, None
        if self.balanced:
            # As clar-train: clip i drawn with weight n_c^-P, so class c gets
            # a share proportional to n_c^(1-P) (P = 1: every class equally
            # likely, P = 0.5: sqrt-balanced); the unlabelled clips count as
            # one more class.
            cid = np.array([clips[i].class_id for i in use])
            counts = {c: int((cid == c).sum()) for c in set(cid.tolist())}
            w = np.array([float(counts[c]) ** -float(balance) for c in cid])
            self.p = w / w.sum()

    def __len__(self):
        return 1 << 62

    def slots(self, step):
        """Clip indices of the global batch of `step`."""
        if self.balanced:
            rng = np.random.default_rng([self.seed, step, 2])
            return self.use[rng.choice(len(self.use), self.G, replace=False, p=self.p)]
        epoch = step // self.spe
        if epoch != self.perm_epoch:
            rng = np.random.default_rng([self.seed, epoch, 1])
            self.perm, self.perm_epoch = rng.permutation(self.use), epoch
        pos = (step % self.spe) * self.G
        return self.perm[(pos + np.arange(self.G)) % len(self.use)]

    def __getitem__(self, step):
        idx = self.slots(step)[self.rank * self.B:(self.rank + 1) * self.B]
        views = np.zeros((2 * self.B, self.window), np.float32)
        masks = [[] for _ in range(2 * self.B)]
        for b, ci in enumerate(idx):
            slot = self.rank * self.B + b
            for v in range(2):
                rng = np.random.default_rng([self.seed, step, slot, v])
                # A background candidate, as clar-train: any other usable clip.
                bi = int(self.use[rng.integers(len(self.use))])
                bg = self.clips[bi].pcm if bi != ci else None
                views[v * self.B + b] = augment.augment_view(self.aug, rng, self.clips[ci].pcm,
                                                             self.window, bg=bg)
                masks[v * self.B + b] = augment.spec_masks(self.aug, rng, self.n_mels)
        labels = np.array([self.clips[ci].class_id for ci in idx], np.int64)
        slots = self.rank * self.B + np.arange(self.B)
        return (torch.from_numpy(views), torch.from_numpy(labels), torch.from_numpy(slots),
                torch.from_numpy(augment.mask_array(masks, 2 * self.B)))


def layer_list(spec):
    """--architecture: "cnn4"/None (clar_default_architecture), a model file
    (its clar.architecture), a JSON file or JSON text."""
    if not spec or spec == "cnn4":
        return DEFAULT_ARCHITECTURE
    if os.path.exists(spec):
        with open(spec, "rb") as f:
            head = f.read(8)
        if spec.endswith(".safetensors") or (len(head) == 8 and head[:1] != b"["):
            return ModelFile.load(spec).architecture
        with open(spec, encoding="utf-8") as f:
            return json.load(f)
    try:
        return json.loads(spec)
    except json.JSONDecodeError:
        raise SystemExit(f"clar.train: --architecture {spec!r} is neither cnn4, a file nor JSON "
                         "(other named lists: clar-mkmodel --arch NAME -o F, then pass F)") from None


def parse(argv):
    p = argparse.ArgumentParser(prog="python3 -m clar.train", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="manifest (TSV) or folder per class")
    p.add_argument("--out", required=True, help="output folder (model, checkpoint, log)")
    p.add_argument("--split", default="train")
    p.add_argument("--unlabelled", action="append", default=[], help="folder of unlabelled audio")
    p.add_argument("--loss", default="hybrid", choices=["hybrid", "ntxent", "supcon", "ce"])
    p.add_argument("--ce-weight", type=float, default=1.0)
    p.add_argument("--temperature", type=float, default=0.5)
    p.add_argument("--label-fraction", type=float, default=1.0)
    p.add_argument("--balance", type=float, default=0.0, metavar="P",
                   help="as clar-train: draw batches with class weights n_c^(1-P) instead of "
                        "epoch permutations (0 = shuffled epochs, 0.5 = sqrt-balanced, "
                        "1 = every class equally likely; the unlabelled clips count as one class)")
    p.add_argument("--balanced", action="store_const", const=1.0, dest="balance",
                   help="the same as --balance 1")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--steps", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64, help="clips per worker and step")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-min", type=float, default=1e-5)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--proj-dim", type=int, default=64)
    p.add_argument("--aug", default=None, help="e.g. pitch=0.3:2,noise=0.5:5:30 (clar-train's)")
    p.add_argument("--no-aug", action="store_true")
    p.add_argument("--architecture", default=None,
                   help="layer list: cnn4 (the default), a model file whose list to use (e.g. "
                        "clar-mkmodel --arch dsres -o F), a JSON file or JSON text")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    p.add_argument("--workers", type=int, default=0, help="data-loader processes per worker")
    p.add_argument("--checkpoint-every", type=int, default=200)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--max-minutes", type=float, default=0)
    p.add_argument("--stop-step", type=int, default=0,
                   help="stop (checkpoint + export) after this step; --resume continues")
    p.add_argument("--cache", default=None, help="decoded-audio cache (default OUT/cache)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm over workers (GPU)")
    p.add_argument("--log-every", type=float, default=5.0, help="seconds between progress lines")
    a = p.parse_args(argv)
    if (a.batch_size < 2 or a.threads < 1 or not a.temperature > 0 or not a.lr > 0
            or not 0 <= a.label_fraction <= 1 or a.epochs < 1 or a.steps < 0 or a.proj_dim < 1
            or a.checkpoint_every < 1 or a.workers < 0 or not 0 <= a.balance <= 1):
        p.error("an option is out of range")
    return a


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "--clap" in argv:
        from .train_clap import main as clap_main
        return clap_main([x for x in argv if x != "--clap"])
    a = parse(argv)
    torch.set_num_threads(a.threads)
    d = Dist(a.device)
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    try:
        aug = augment.AugmentConfig.none() if a.no_aug else augment.AugmentConfig().parse(a.aug)
    except ValueError as e:
        log(d, f"clar.train: --aug: {e}")
        return 2
    mel = MelParams()
    window, hop = 16000, 8000
    arch = layer_list(a.architecture)

    clips = data.read_manifest(a.data, a.split)
    for u in a.unlabelled:
        data.add_unlabelled(clips, u)
    cache = a.cache or os.path.join(a.out, "cache")
    # The first worker decodes and writes the cache; the others read it.
    if d.main:
        clips = data.load_audio(clips, mel.sample_rate, cache)
    d.barrier()
    if not d.main:
        clips = data.load_audio(clips, mel.sample_rate, cache)
    names = data.index_classes(clips)
    data.label_fraction(clips, len(names), a.label_fraction, a.seed)
    n_lab = sum(c.class_id >= 0 for c in clips)
    log(d, f"clar.train: {len(clips)} clips ({n_lab} labelled) in {len(names)} classes, "
           f"{d.world} worker(s) on {d.device}, {a.batch_size} clips each per step")
    if a.loss in ("ce", "hybrid") and not names:
        log(d, f"clar.train: --loss {a.loss} needs labels")
        return 1
    use = [i for i, c in enumerate(clips) if a.loss != "ce" or c.class_id >= 0]
    G = a.batch_size * d.world
    if not use or (a.loss != "ce" and len(use) < G):
        log(d, f"clar.train: {len(use)} usable clips but a global batch of {G}")
        return 1

    net = TrainNet(arch, n_classes=len(names), proj_dim=a.proj_dim, seed=a.seed).to(d.device)
    if a.sync_bn and d.world > 1:
        net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
    frontend = LogMel(mel).to(d.device)
    opt = torch.optim.AdamW(net.param_groups(a.weight_decay), lr=a.lr, betas=(0.9, 0.999),
                            eps=1e-8)
    src = Batches(clips, use, a.batch_size, d.world, d.rank, window, aug, a.seed, a.balance,
                  len(names), mel.n_mels)
    total = a.steps or a.epochs * src.spe
    ckpt = os.path.join(a.out, "checkpoint.pt")
    step = 0
    if a.resume:
        st = torch.load(ckpt, map_location=d.device)
        net.load_state_dict(st["net"])
        opt.load_state_dict(st["opt"])
        step = st["step"]
        if st.get("world_size", d.world) * st.get("batch_size", a.batch_size) != G:
            log(d, "clar.train: warning: the global batch differs from the checkpoint's; "
                   "the clip order changes")
        log(d, f"clar.train: resumed at step {step}")
    model = net
    if d.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(
            net, device_ids=[d.local_rank] if d.device.type == "cuda" else None)
    loader = torch.utils.data.DataLoader(src, batch_size=None, sampler=range(step, total),
                                         num_workers=a.workers,
                                         persistent_workers=a.workers > 0)
    logf = None
    if d.main:
        logf = open(os.path.join(a.out, "train-log.tsv"), "a" if a.resume else "w")
        if not a.resume:
            logf.write("step\tepoch\tlr\tloss\tcontrastive\tce\tsamples_per_s\n")
    K = len(names)
    t_start = t_last = time.monotonic()
    step0 = step
    B = a.batch_size
    model.train()
    for views, labels, slots, fmasks in loader:
        views = views.to(d.device, non_blocking=True)
        labels = labels.to(d.device)
        slots = slots.to(d.device)
        with torch.no_grad():
            mels = augment.apply_fmask(frontend(views), fmasks)
        h, z, logits = model(mels)
        lc_v = lce_v = 0.0
        bp = z.sum() * 0.0
        if a.loss != "ce":
            za = losses.gather_with_grad(z[:B])
            zb = losses.gather_with_grad(z[B:])
            ids = losses.gather_nograd(slots)
            if a.loss == "supcon":
                lab = losses.gather_nograd(labels)
                lc = losses.supcon(za, zb, lab, a.temperature, ids)
            else:
                lc = losses.ntxent(za, zb, a.temperature, ids)
            bp = bp + lc
            lc_v = float(lc.detach())
        if K and a.loss in ("hybrid", "ce"):
            w = 1.0 if a.loss == "ce" else a.ce_weight
            s, n = losses.ce_sum(logits, torch.cat([labels, labels]))
            ce_bp, lce_v = losses.global_mean(s, n)
            bp = bp + w * ce_bp
            loss_v = lc_v + w * lce_v
        else:
            loss_v = lc_v
            if logits is not None:
                # The classifier takes no part in this loss (exported as is,
                # as clar-train does); DDP needs every parameter in the graph.
                bp = bp + logits.sum() * 0.0
        if not math.isfinite(loss_v):
            log(d, f"clar.train: loss is not finite at step {step}; stopping (last checkpoint kept)")
            return 1
        lr = lr_schedule(step, a.warmup, total, a.lr, a.lr_min)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        bp.backward()
        opt.step()
        epoch = step // src.spe
        step += 1
        now = time.monotonic()
        vps = (step - step0) * 2.0 * G / (now - t_start)
        if logf:
            logf.write(f"{step - 1}\t{epoch}\t{lr:.6g}\t{loss_v:.5f}\t{lc_v:.5f}\t{lce_v:.5f}\t{vps:.1f}\n")
        if now - t_last > a.log_every or step == total:
            eta = (total - step) * (now - t_start) / (step - step0)
            log(d, f"epoch {epoch} step {step}/{total} loss {loss_v:.4f} (contrastive {lc_v:.4f}, "
                   f"ce {lce_v:.4f}) lr {lr:.2e} {vps:.1f} views/s ETA {eta / 60:.0f} min")
            if logf:
                logf.flush()
            t_last = now
        out_of_time = (a.max_minutes > 0 and now - t_start > a.max_minutes * 60) \
            or step == a.stop_step
        if d.world > 1 and a.max_minutes > 0:
            # Every worker stops at the same step.
            flag = torch.tensor([1.0 if out_of_time else 0.0], device=d.device)
            dist.all_reduce(flag, group=d.group)
            out_of_time = flag.item() > 0
        if step % a.checkpoint_every == 0 or step == total or out_of_time:
            if d.main:
                tmp = ckpt + ".tmp"
                torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "step": step,
                            "classes": names, "world_size": d.world, "batch_size": B,
                            "args": vars(a)}, tmp)
                os.replace(tmp, ckpt)
        if out_of_time:
            log(d, f"clar.train: stopped at step {step} (--max-minutes / --stop-step)")
            break
        if step >= total:
            break
    if d.main:
        if logf:
            logf.close()
        mf = net.to_model_file(mel, window, hop, names, name="clar-trained",
                               description="encoder trained by clar.train (PyTorch; CLAR: "
                                           "contrastive + supervised)",
                               extra={"clar.training": "python3 -m clar.train " + " ".join(argv),
                                      "clar.training_steps": str(step),
                                      "clar.training_workers": str(d.world)})
        path = os.path.join(a.out, "model.safetensors")
        mf.save(path)
        log(d, f"clar.train: wrote {path} after {step} steps "
               f"({(time.monotonic() - t_start) / 60:.1f} min)")
    d.barrier()
    d.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
