# SPDX-License-Identifier: LGPL-2.1-or-later
"""Distributed losses of clar.train (python/clar/losses.py) on 2 gloo
workers on 127.0.0.1 against one process holding the concatenated batch:

- NT-Xent and SupCon with negatives gathered across workers: the loss and
  d loss / d z of every row equal the single-process values (the gather's
  backward sums over workers, so each worker holds W x its rows' gradient,
  which DDP's averaging divides back);
- one DistributedDataParallel step of clar.nn.TrainNet with the hybrid loss
  (NT-Xent + cross-entropy over labelled rows, label counts differing per
  worker): the averaged parameter gradients equal the single-process
  gradients of the global loss.
The network has no batch-norm (its statistics are per worker by design)."""
import datetime
import os
import socket
import sys
import tempfile

from clar_testutil import SKIP, imports_or_skip

with imports_or_skip(pyclar=True):
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp
    from clar import losses
    from clar.nn import TrainNet

if not dist.is_available() or not dist.is_gloo_available():
    print("skipping: torch.distributed with gloo unavailable")
    sys.exit(SKIP)

W, B, P = 2, 5, 8
ARCH = [{"op": "maxpool2d", "kernel": 4}, {"op": "global_avg_pool"},
        {"op": "linear", "name": "embed", "in": 1, "out": 6}]


def data():
    g = torch.Generator().manual_seed(11)
    za = torch.randn(W * B, P, generator=g, dtype=torch.float64)
    zb = za + 0.3 * torch.randn(W * B, P, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 1, -1, 2, 0, 1, 1, -1, -1, 2])
    mel = torch.randn(2 * W * B, 16, 24, generator=g)
    return za, zb, labels, mel


def single():
    za, zb, labels, mel = data()
    out = {}
    for kind in ("ntxent", "supcon"):
        a, b = za.clone().requires_grad_(), zb.clone().requires_grad_()
        ids = torch.arange(W * B)
        L = losses.ntxent(a, b, 0.5, ids) if kind == "ntxent" else losses.supcon(a, b, labels, 0.5, ids)
        L.backward()
        out[kind] = (float(L), a.grad.clone(), b.grad.clone())
    net = TrainNet(ARCH, n_classes=3, proj_dim=4, seed=2).double()
    # Global batch: view a of clips 0..WB-1, then view b.
    h, z, logits = net(mel.double())
    N = W * B
    L = losses.ntxent(z[:N], z[N:], 0.5, torch.arange(N))
    s, n = losses.ce_sum(logits, torch.cat([labels, labels]))
    L = L + 0.7 * s / n
    L.backward()
    out["net"] = (float(L), {k: p.grad.clone() for k, p in net.named_parameters()})
    return out


def worker(rank, port, outdir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=W, timeout=datetime.timedelta(seconds=120))
    # As clar.train: the losses' collectives in a group of their own, so
    # they never interleave with DDP's gradient all-reduce on one group.
    losses.set_process_group(dist.new_group())
    za, zb, labels, mel = data()
    sl = slice(rank * B, (rank + 1) * B)
    out = {}
    for kind in ("ntxent", "supcon"):
        a, b = za[sl].clone().requires_grad_(), zb[sl].clone().requires_grad_()
        ids = losses.gather_nograd(torch.arange(B) + rank * B)
        A, Bv = losses.gather_with_grad(a), losses.gather_with_grad(b)
        if kind == "ntxent":
            L = losses.ntxent(A, Bv, 0.5, ids)
        else:
            L = losses.supcon(A, Bv, losses.gather_nograd(labels[sl]), 0.5, ids)
        L.backward()
        out[kind] = (float(L), a.grad.clone(), b.grad.clone())
    net = TrainNet(ARCH, n_classes=3, proj_dim=4, seed=2).double()
    ddp = torch.nn.parallel.DistributedDataParallel(net)
    N = W * B
    # This worker's views: a then b of its clips (the trainer's layout).
    local = torch.cat([mel[:N][sl], mel[N:][sl]]).double()
    h, z, logits = ddp(local)
    L = losses.ntxent(losses.gather_with_grad(z[:B]), losses.gather_with_grad(z[B:]), 0.5,
                      losses.gather_nograd(torch.arange(B) + rank * B))
    s, n = losses.ce_sum(logits, torch.cat([labels[sl], labels[sl]]))
    ce_bp, ce_v = losses.global_mean(s, n)
    (L + 0.7 * ce_bp).backward()
    out["net"] = (float(L) + 0.7 * ce_v, {k: p.grad.clone() for k, p in net.named_parameters()})
    torch.save(out, os.path.join(outdir, f"rank{rank}.pt"))
    dist.destroy_process_group()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ref = single()
    with tempfile.TemporaryDirectory() as d:
        mp.spawn(worker, args=(free_port(), d), nprocs=W, join=True)
        res = [torch.load(os.path.join(d, f"rank{r}.pt")) for r in range(W)]
    fails = 0
    for kind in ("ntxent", "supcon"):
        L0, ga, gb = ref[kind]
        dl = max(abs(r[kind][0] - L0) for r in res)
        # Worker r holds W x the gradient of its rows.
        dga = max(float((res[r][kind][1] / W - ga[r * B:(r + 1) * B]).abs().max()) for r in range(W))
        dgb = max(float((res[r][kind][2] / W - gb[r * B:(r + 1) * B]).abs().max()) for r in range(W))
        scale = float(max(ga.abs().max(), gb.abs().max()))
        print(f"{kind}: loss {L0:.6f}, max |2 workers - 1 process| loss {dl:.3g}, "
              f"gradient {max(dga, dgb):.3g} (gradients up to {scale:.3g})")
        if dl > 1e-10 or max(dga, dgb) > 1e-10 * max(1.0, scale):
            fails += 1
    L0, g0 = ref["net"]
    dl = max(abs(r["net"][0] - L0) for r in res)
    worst = 0.0
    for k, g in g0.items():
        for r in res:
            worst = max(worst, float((r["net"][1][k] - g).abs().max() / (g.abs().max() + 1e-12)))
    print(f"DDP step, hybrid loss: loss {L0:.6f} (diff {dl:.3g}), worst relative gradient "
          f"difference over {len(g0)} parameters {worst:.3g}")
    if dl > 1e-9 or worst > 1e-9:
        fails += 1
    print("ok" if not fails else f"{fails} check(s) failed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
