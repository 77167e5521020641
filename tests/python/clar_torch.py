# SPDX-License-Identifier: LGPL-2.1-or-later
"""The PyTorch module for one entry of a model's layer list
(`clar.architecture`, include/clar/model.h), shared by the reference test
and the inference benchmark. Needs torch (callers skip without it)."""
import torch.nn as nn


class GAP(nn.Module):
    """global_avg_pool: mean over frequency and time -> [N, C]."""

    def forward(self, x):
        return x.mean(dim=(2, 3))


def make_layer(layer):
    op = layer["op"]
    if op == "conv2d":
        return nn.Conv2d(layer["in"], layer["out"], layer["kernel"], padding=layer["pad"])
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
    raise ValueError("unknown op %r" % op)
