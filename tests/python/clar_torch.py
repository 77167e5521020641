# SPDX-License-Identifier: LGPL-2.1-or-later
"""The PyTorch modules for a model's layer list (`clar.architecture`,
include/clar/model.h), shared by the reference tests and the inference
benchmark. Needs torch (callers skip without it)."""
import torch.nn as nn


class GAP(nn.Module):
    """global_avg_pool: mean over frequency and time -> [N, C]."""

    def forward(self, x):
        return x.mean(dim=(2, 3))


def make_layer(layer):
    op = layer["op"]
    if op == "conv2d":
        return nn.Conv2d(layer["in"], layer["out"], layer["kernel"], padding=layer.get("pad", 0))
    if op == "dwconv2d":
        c = layer["channels"]
        return nn.Conv2d(c, c, layer["kernel"], stride=layer.get("stride", 1),
                         padding=layer.get("pad", 0), groups=c)
    if op == "batchnorm2d":
        return nn.BatchNorm2d(layer["channels"], eps=layer.get("eps", 1e-5))
    if op == "relu":
        return nn.ReLU()
    if op == "maxpool2d":
        return nn.MaxPool2d(layer["kernel"])
    if op == "avgpool2d":
        return nn.AvgPool2d(layer["kernel"])
    if op == "global_avg_pool":
        return GAP()
    if op == "linear":
        return nn.Linear(layer["in"], layer["out"])
    if op in ("residual_begin", "residual_add"):
        return nn.Identity()
    raise ValueError("unknown op %r" % op)


class Encoder(nn.Module):
    """The whole layer list: layers in order, residual_begin pushing the
    activation and residual_add adding the popped one back (MobileNetV2's
    x + block(x)). Module i is layer i; state_dict keys are "layers.I.*"."""

    def __init__(self, arch):
        super().__init__()
        self.ops = [layer["op"] for layer in arch]
        self.layers = nn.ModuleList([make_layer(layer) for layer in arch])

    def forward(self, x):
        stack = []
        for op, m in zip(self.ops, self.layers):
            if op == "residual_begin":
                stack.append(x)
            elif op == "residual_add":
                x = x + stack.pop()
            else:
                x = m(x)
        return x
