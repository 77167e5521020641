# SPDX-License-Identifier: LGPL-2.1-or-later
"""The losses of clar-train (src/train/losses.c, src/train/clap.c) in
PyTorch, with negatives gathered across torch.distributed workers.

Distributed convention (clar.train): every worker computes the loss of the
*global* batch. Contrastive terms see all workers' rows through
`gather_with_grad`, whose backward sums the incoming gradients over workers
(all_reduce) and returns this worker's slice; DistributedDataParallel then
averages parameter gradients over the W workers, so the W-fold sum and the
1/W average cancel and every worker applies the gradient of the global
loss, exactly as one process holding the concatenated batch
(tests/python/test_pyclar_dist.py checks loss and gradients). Terms that
are sums over local rows (cross-entropy) are divided by the global count
and multiplied by W for the same reason (`global_mean`).
"""
import torch
import torch.distributed as dist
import torch.nn.functional as F


_GROUP = None


def set_process_group(group):
    """The process group of the losses' collectives (None: the default)."""
    global _GROUP
    _GROUP = group


def _dist():
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ws = dist.get_world_size()
        out = [torch.empty_like(x) for _ in range(ws)]
        dist.all_gather(out, x.contiguous(), group=_GROUP)
        ctx.rank, ctx.n = dist.get_rank(), x.shape[0]
        return torch.cat(out, 0)

    @staticmethod
    def backward(ctx, g):
        g = g.contiguous().clone()
        dist.all_reduce(g, op=dist.ReduceOp.SUM, group=_GROUP)
        return g[ctx.rank * ctx.n:(ctx.rank + 1) * ctx.n]


def gather_with_grad(x):
    """Concatenation over workers (rank order) of x [n, ...] (same n on every
    worker); identity without a process group."""
    return _GatherWithGrad.apply(x) if _dist() else x


def gather_nograd(x):
    if not _dist():
        return x
    out = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(out, x.contiguous(), group=_GROUP)
    return torch.cat(out, 0)


def contrastive(z, row_class, tau):
    """The shared core of NT-Xent and SupCon (losses.c `contrastive`):
    zn = z/|z|, S = zn zn^T / tau; anchor i's loss is -mean over its
    positives p (other rows with equal class id) of log softmax_{k != i}(S_i)_p;
    anchors without a positive add 0; the sum is divided by the number of
    rows R."""
    R = z.shape[0]
    zn = z / (z.norm(dim=1, keepdim=True) + 1e-12)
    S = zn @ zn.T / tau
    eye = torch.eye(R, dtype=torch.bool, device=z.device)
    logq = torch.log_softmax(S.masked_fill(eye, float("-inf")), dim=1)
    pos = (row_class[:, None] == row_class[None, :]) & ~eye
    npos = pos.sum(1)
    per = -(logq.masked_fill(~pos, 0.0)).sum(1) / npos.clamp(min=1)
    return per.sum() / R


def ntxent(za, zb, tau=0.5, clip_ids=None):
    """NT-Xent (SimCLR, Chen et al. 2020, eq. 1) of the two views za, zb
    [N, P] of N clips: the only positive of a view is the other view of the
    same clip. clip_ids [N]: global clip ids (default 0..N-1)."""
    ids = clip_ids if clip_ids is not None else torch.arange(za.shape[0], device=za.device)
    return contrastive(torch.cat([za, zb]), torch.cat([ids, ids]), tau)


def supcon_classes(labels, clip_ids):
    """Class ids for SupCon rows: the label, or for an unlabelled clip
    (label < 0) a class of its own (-1 - global clip id)."""
    return torch.where(labels >= 0, labels, -1 - clip_ids)


def supcon(za, zb, labels, tau=0.5, clip_ids=None):
    """SupCon (Khosla et al. 2020, eq. 2, L_out): positives are all other
    rows with the same label; an unlabelled clip's only positive is its
    other view."""
    ids = clip_ids if clip_ids is not None else torch.arange(za.shape[0], device=za.device)
    c = supcon_classes(labels, ids)
    return contrastive(torch.cat([za, zb]), torch.cat([c, c]), tau)


def ce_sum(logits, labels):
    """Sum of softmax cross-entropy over rows with 0 <= label < K, and their
    count (clar_loss_ce is sum / count)."""
    K = logits.shape[1]
    ok = (labels >= 0) & (labels < K)
    if not bool(ok.any()):
        return logits.sum() * 0.0, 0
    return F.cross_entropy(logits[ok], labels[ok], reduction="sum"), int(ok.sum())


def global_mean(local_sum, local_count):
    """(loss to backpropagate, value): the mean over all workers' rows of a
    per-row sum. The backpropagated term is W x local_sum / global_count, so
    that DDP's averaging gives the gradient of the global mean."""
    cnt = torch.tensor([float(local_count)], device=local_sum.device)
    ws = 1
    if _dist():
        ws = dist.get_world_size()
        dist.all_reduce(cnt, group=_GROUP)
        tot = local_sum.detach().clone().reshape(1)
        dist.all_reduce(tot, group=_GROUP)
    else:
        tot = local_sum.detach().reshape(1)
    n = float(cnt.item())
    if n == 0:
        return local_sum * 0.0, 0.0
    return local_sum * (ws / n), float(tot.item()) / n


def clap_loss(T, A, log_scale, group=None):
    """Symmetric CLAP loss (Elizalde et al. 2022; clar_clap_loss): C = s T A^T
    (rows texts, columns audio), 0.5 (mean_i CE(row i) + mean_j CE(col j))
    with targets spread uniformly over pairs of equal group id (identical
    captions), the diagonal when group is None."""
    C = torch.exp(log_scale) * T @ A.T
    N = C.shape[0]
    if group is None:
        q = torch.eye(N, dtype=C.dtype, device=C.device)
    else:
        q = (group[:, None] == group[None, :]).to(C.dtype)
    qr = q / q.sum(1, keepdim=True)
    qc = q / q.sum(0, keepdim=True)
    lr = -(qr * torch.log_softmax(C, dim=1)).sum(1).mean()
    lc = -(qc * torch.log_softmax(C, dim=0)).sum(0).mean()
    return 0.5 * (lr + lc)
