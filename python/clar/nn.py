# SPDX-License-Identifier: LGPL-2.1-or-later
"""PyTorch modules built from a model file's layer list (`clar.architecture`,
include/clar/model.h) and back.

Each op of the layer list is an entry of LAYERS (see `register_layer`):
  build(spec)      -> nn.Module for inference, whose state_dict keys (without
                      num_batches_tracked) are the tensor names of the file
                      after "encoder.NAME." (conv2d: weight, bias; ...);
  train(spec, ctx) -> (optional) the module used for training, e.g. conv2d
                      without bias followed by a train-mode batch-norm, as
                      clar-train's network (src/train/nn.h);
  export(module)   -> (optional) the file tensors of a training module, e.g.
                      the batch-norm folded into the conv (src/train/export.c).
A new op (say a residual block) adds one entry; nothing else changes.
"""
import json
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .model import ModelFile, MelParams, htk_filterbank, new_model_file

DEFAULT_ARCHITECTURE = [
    {"op": "conv2d", "name": "conv1", "in": 1, "out": 16, "kernel": 3, "pad": 1},
    {"op": "relu"}, {"op": "maxpool2d", "kernel": 2},
    {"op": "conv2d", "name": "conv2", "in": 16, "out": 32, "kernel": 3, "pad": 1},
    {"op": "relu"}, {"op": "maxpool2d", "kernel": 2},
    {"op": "conv2d", "name": "conv3", "in": 32, "out": 64, "kernel": 3, "pad": 1},
    {"op": "relu"}, {"op": "maxpool2d", "kernel": 2},
    {"op": "conv2d", "name": "conv4", "in": 64, "out": 128, "kernel": 3, "pad": 1},
    {"op": "relu"}, {"op": "global_avg_pool"},
    {"op": "linear", "name": "embed", "in": 128, "out": 128},
]


class LayerKind:
    def __init__(self, build, train=None, export=None, apply=None):
        self.build = build
        self.train = train
        self.export = export
        self.apply = apply


LAYERS = {}


def register_layer(op, build, train=None, export=None, apply=None):
    """Adds (or replaces) the op `op` of the layer list. apply(module, x,
    stack) -> y, when given, replaces module(x) in the forward pass (stack:
    a list the layers of one forward share, for residual connections)."""
    LAYERS[op] = LayerKind(build, train, export, apply)


class GlobalAvgPool(nn.Module):
    """global_avg_pool: mean over frequency and time -> [N, C]."""

    def forward(self, x):
        return x.mean(dim=(2, 3))


def _he_normal_(w, fan_in, gen=None):
    """He et al. 2015: N(0, 2 / fan_in), as clar_net_new initialises."""
    with torch.no_grad():
        w.normal_(0.0, math.sqrt(2.0 / fan_in), generator=gen)


def _conv(spec):
    return nn.Conv2d(spec["in"], spec["out"], spec["kernel"], padding=spec.get("pad", 0))


def _dwconv(spec):
    """dwconv2d: PyTorch's Conv2d(C, C, k, stride, pad, groups=C)."""
    c = spec["channels"]
    return nn.Conv2d(c, c, spec["kernel"], stride=spec.get("stride", 1),
                     padding=spec.get("pad", 0), groups=c)


class ConvBN(nn.Module):
    """Training form of conv2d and dwconv2d (src/train/nn.c): no conv bias
    (the batch-norm after it subtracts any constant), then BatchNorm2d in
    train mode. With `bn=False` (the layer list has its own batchnorm2d
    next) the conv alone, bias zero at export."""

    def __init__(self, spec, eps=1e-5, momentum=0.1, bn=True):
        super().__init__()
        if spec["op"] == "dwconv2d":
            c = spec["channels"]
            self.conv = nn.Conv2d(c, c, spec["kernel"], stride=spec.get("stride", 1),
                                  padding=spec.get("pad", 0), groups=c, bias=False)
        else:
            self.conv = nn.Conv2d(spec["in"], spec["out"], spec["kernel"],
                                  padding=spec.get("pad", 0), bias=False)
        out = self.conv.out_channels
        self.bn = nn.BatchNorm2d(out, eps=eps, momentum=momentum) if bn else None

    def forward(self, x):
        x = self.conv(x)
        return self.bn(x) if self.bn is not None else x

    def init_(self, gen=None):
        c = self.conv
        fan_in = c.in_channels // c.groups * c.kernel_size[0] * c.kernel_size[1]
        _he_normal_(c.weight, fan_in, gen)


def _conv_train(spec, ctx):
    m = ConvBN(spec, ctx.get("bn_eps", 1e-5), ctx.get("bn_momentum", 0.1),
               bn=not ctx.get("next_is_bn", False))
    m.init_(ctx.get("generator"))
    return m


def _conv_export(m):
    """Batch-norm folded into the conv (Ioffe & Szegedy 2015, sec. 3.1; as
    write_folded_conv in src/train/export.c): w' = w g / sqrt(var + eps),
    b' = (0 - mean) g / sqrt(var + eps) + beta; computed in float64."""
    w = m.conv.weight.detach().double()
    if m.bn is None:
        return {"weight": w.float(), "bias": torch.zeros(w.shape[0])}
    bn = m.bn
    sc = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
    return {"weight": (w * sc[:, None, None, None]).float(),
            "bias": ((-bn.running_mean.double()) * sc + bn.bias.detach().double()).float()}


def _bn(spec):
    return nn.BatchNorm2d(spec["channels"], eps=spec.get("eps", 1e-5))


def _bn_train(spec, ctx):
    return nn.BatchNorm2d(spec["channels"], eps=spec.get("eps", 1e-5),
                          momentum=ctx.get("bn_momentum", 0.1))


def _linear_train(spec, ctx):
    m = nn.Linear(spec["in"], spec["out"])
    _he_normal_(m.weight, spec["in"], ctx.get("generator"))
    with torch.no_grad():
        m.bias.zero_()
    return m


def _residual_begin(m, x, stack):
    stack.append(x)
    return x


def _residual_add(m, x, stack):
    return x + stack.pop()


register_layer("conv2d", _conv, _conv_train, _conv_export)
register_layer("dwconv2d", _dwconv, _conv_train, _conv_export)
# x + block(x) (MobileNetV2): residual_begin keeps the activation, the
# matching residual_add adds it back; pairs nest.
register_layer("residual_begin", lambda s: nn.Identity(), apply=_residual_begin)
register_layer("residual_add", lambda s: nn.Identity(), apply=_residual_add)
register_layer("batchnorm2d", _bn, _bn_train)
register_layer("relu", lambda s: nn.ReLU())
register_layer("maxpool2d", lambda s: nn.MaxPool2d(s["kernel"]))
register_layer("avgpool2d", lambda s: nn.AvgPool2d(s["kernel"]))
register_layer("global_avg_pool", lambda s: GlobalAvgPool())
register_layer("linear", lambda s: nn.Linear(s["in"], s["out"]), _linear_train)


def _kind(spec):
    k = LAYERS.get(spec.get("op"))
    if k is None:
        raise ValueError(f"layer op {spec.get('op')!r} is not known to clar.nn "
                         f"(known: {', '.join(sorted(LAYERS))})")
    return k


def make_layer(spec):
    """The inference module of one layer-list entry."""
    return _kind(spec).build(spec)


def _parse_arch(architecture):
    arch = json.loads(architecture) if isinstance(architecture, str) else list(architecture)
    if not arch or not isinstance(arch, list):
        raise ValueError("empty layer list")
    return arch


class Encoder(nn.Module):
    """The encoder: the layer list applied in order to [N, 1, n_mels, T]
    log-mel input. `layers[i]` is the module of architecture[i]; named
    layers are also reachable as `named[NAME]`."""

    def __init__(self, architecture, train=False, bn_eps=1e-5, bn_momentum=0.1, generator=None):
        super().__init__()
        self.architecture = _parse_arch(architecture)
        self.training_form = train
        mods = []
        for i, spec in enumerate(self.architecture):
            k = _kind(spec)
            if train and k.train is not None:
                nxt = self.architecture[i + 1]["op"] if i + 1 < len(self.architecture) else None
                mods.append(k.train(spec, {"bn_eps": bn_eps, "bn_momentum": bn_momentum,
                                           "generator": generator,
                                           "next_is_bn": nxt == "batchnorm2d"}))
            else:
                mods.append(k.build(spec))
        self.layers = nn.ModuleList(mods)
        self._apply_fns = [_kind(spec).apply for spec in self.architecture]

    def forward(self, x):
        stack = []
        for m, ap in zip(self.layers, self._apply_fns):
            x = m(x) if ap is None else ap(m, x, stack)
        return x

    @property
    def embedding_dim(self):
        return self.architecture[-1]["out"]

    def file_tensors(self):
        """{ "encoder.NAME.x": float32 ndarray } in layer order; training
        modules go through their op's export (batch-norm folding)."""
        out = {}
        for spec, m in zip(self.architecture, self.layers):
            if "name" not in spec:
                continue
            k = _kind(spec)
            if self.training_form and k.export is not None:
                sd = k.export(m)
            else:
                sd = {n: t for n, t in m.state_dict().items() if not n.endswith("num_batches_tracked")}
            for n, t in sd.items():
                out[f"encoder.{spec['name']}.{n}"] = t.detach().cpu().float().numpy()
        return out

    def load_file_tensors(self, tensors):
        """Loads inference weights ({"encoder.NAME.x": array}); every tensor
        of every named layer must be present with its exact shape."""
        if self.training_form:
            raise ValueError("load_file_tensors needs the inference form (train=False)")
        for spec, m in zip(self.architecture, self.layers):
            if "name" not in spec:
                continue
            sd = {}
            for n, t in m.state_dict().items():
                if n.endswith("num_batches_tracked"):
                    continue
                key = f"encoder.{spec['name']}.{n}"
                if key not in tensors:
                    raise ValueError(f"model file lacks tensor {key}")
                a = np.asarray(tensors[key])
                if tuple(a.shape) != tuple(t.shape):
                    raise ValueError(f"tensor {key} has shape {a.shape}, the layer needs "
                                     f"{tuple(t.shape)}")
                sd[n] = torch.from_numpy(a.astype(np.float32))
            m.load_state_dict(sd, strict=False)


def encoder_from_model(mf):
    """Inference encoder (eval mode) with the weights of a ModelFile."""
    enc = Encoder(mf.architecture)
    enc.load_file_tensors(mf.tensors)
    return enc.eval()


class LogMel(nn.Module):
    """libclar's front end (include/clar/mel.h; tests/python/test_mel_torchaudio.py):
    |STFT|^2 with a periodic Hann window of win_length centred in n_fft
    (torch.stft), reflect padding by n_fft/2 when `center`, the stored
    filterbank [n_mels, n_fft/2+1], then ln(x + log_offset).
    Input [B, N] samples -> [B, n_mels, T]."""

    def __init__(self, mel, filterbank=None):
        super().__init__()
        self.p = mel
        fb = filterbank if filterbank is not None else htk_filterbank(mel)
        self.register_buffer("fb", torch.as_tensor(np.asarray(fb, dtype=np.float32)))
        self.register_buffer("window", torch.hann_window(mel.win_length, periodic=True))

    def forward(self, x):
        p = self.p
        X = torch.stft(x, p.n_fft, hop_length=p.hop_length, win_length=p.win_length,
                       window=self.window.to(x.dtype), center=p.center, pad_mode="reflect",
                       normalized=False, onesided=True, return_complex=True)
        power = X.real ** 2 + X.imag ** 2
        return torch.log(torch.matmul(self.fb.to(x.dtype), power) + p.log_offset)


class ClarModel(nn.Module):
    """Inference pipeline of a model file: PCM -> log-mel -> encoder ->
    unit embedding (clar_session_embed), plus the label scores of labels.h
    (softmax of scale x cosine)."""

    def __init__(self, mf):
        super().__init__()
        self.mf = mf
        self.frontend = LogMel(mf.mel, mf.filterbank)
        self.encoder = encoder_from_model(mf)
        lab = mf.labels
        self.label_names = lab[0] if lab else []
        self.register_buffer("label_vectors", torch.from_numpy(lab[1]) if lab
                             else torch.zeros(0, mf.embedding_dim))
        self.scale = lab[2] if lab else 10.0
        self.eval()

    @classmethod
    def load(cls, path):
        return cls(ModelFile.load(path))

    def embed(self, pcm):
        """pcm [B, N] (or [N]) float -> unit embeddings [B, D]."""
        x = torch.as_tensor(pcm, dtype=torch.float32)
        if x.dim() == 1:
            x = x[None]
        h = self.encoder(self.frontend(x)[:, None])
        return F.normalize(h, dim=1)

    def scores(self, emb):
        return torch.softmax(self.scale * emb @ self.label_vectors.T, dim=1)


class TrainNet(nn.Module):
    """clar-train's network (src/train/nn.h) in PyTorch: the encoder in
    training form (batch-norm after every conv), projection head
    g(h) = W2 relu(W1 h + b1) + b2 (SimCLR) feeding the contrastive loss,
    and a cosine classifier logits = s (h/|h|).(w_k/|w_k|) whose normalised
    rows become the model's label vectors."""

    def __init__(self, architecture=None, n_classes=0, proj_dim=64, cls_scale=10.0,
                 bn_eps=1e-5, bn_momentum=0.1, seed=1):
        super().__init__()
        g = torch.Generator().manual_seed(int(seed))
        self.encoder = Encoder(architecture or DEFAULT_ARCHITECTURE, train=True, bn_eps=bn_eps,
                               bn_momentum=bn_momentum, generator=g)
        if self.encoder.architecture[-1]["op"] != "linear":
            raise ValueError("the architecture must end with a linear layer (the embedding)")
        D = self.encoder.embedding_dim
        self.proj1 = nn.Linear(D, D)
        self.proj2 = nn.Linear(D, proj_dim)
        for lin in (self.proj1, self.proj2):
            _he_normal_(lin.weight, D, g)
            with torch.no_grad():
                lin.bias.zero_()
        self.cls_scale = float(cls_scale)
        self.n_classes = int(n_classes)
        self.classifier = nn.Parameter(torch.randn(n_classes, D, generator=g)) if n_classes else None

    def forward(self, mel):
        """mel [M, n_mels, T] -> (h [M, D], z [M, P], logits [M, K] or None)."""
        h = self.encoder(mel[:, None])
        z = self.proj2(F.relu(self.proj1(h)))
        logits = None
        if self.classifier is not None:
            logits = self.cls_scale * F.normalize(h, dim=1) @ F.normalize(self.classifier, dim=1).T
        return h, z, logits

    def param_groups(self, weight_decay):
        """Weight decay on conv and linear weights only (clar_param.decay):
        not biases, batch-norm or the cosine classifier."""
        decay, no = [], []
        for n, p in self.named_parameters():
            is_w = n.endswith("weight") and p.dim() >= 2 and not n.startswith("classifier")
            (decay if is_w else no).append(p)
        return [{"params": decay, "weight_decay": weight_decay},
                {"params": no, "weight_decay": 0.0}]

    def to_model_file(self, mel, window_samples, hop_samples, class_names=None, name=None,
                      description=None, extra=None):
        """The inference model file (clar_net_export): folded convs, the
        classifier rows as labels (scale cls_scale)."""
        mf = new_model_file(mel, window_samples, hop_samples, self.encoder.embedding_dim,
                            self.encoder.architecture, name, description)
        mf.tensors.update(self.encoder.file_tensors())
        if self.classifier is not None:
            names = list(class_names) if class_names else [f"class{k}" for k in range(self.n_classes)]
            mf.set_labels(names, self.classifier.detach().cpu().double().numpy(), self.cls_scale)
            # The classifier was trained with this encoder: tie it, as
            # clar_net_export does.
            mf.tie_labels()
        for k, v in (extra or {}).items():
            mf.metadata[k] = str(v)
        return mf


def encoder_from_default():
    return Encoder(DEFAULT_ARCHITECTURE)


__all__ = ["LAYERS", "register_layer", "make_layer", "Encoder", "encoder_from_model", "LogMel", "ClarModel",
           "TrainNet", "DEFAULT_ARCHITECTURE", "MelParams"]
