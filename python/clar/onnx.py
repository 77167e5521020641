# SPDX-License-Identifier: LGPL-2.1-or-later
"""ONNX export of a model file's encoder (torch.onnx).

    python3 -m clar.onnx MODEL.safetensors OUT.onnx [--frames 101] [--opset 13]

Input "logmel" [batch, 1, n_mels, frames] (libclar's log-mel, the model
file's front end; frames is a dynamic axis), outputs "embedding" (the
unit vector clar_session_embed returns) and, for a model with labels,
"scores" (softmax of scale x cosine over the label vectors, labels.h).
The label names and the front-end parameters are copied into the ONNX
metadata_props (clar.* keys), so a runtime can rebuild the front end."""
import argparse
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from .model import ModelFile
from .nn import encoder_from_model


class OnnxEncoder(nn.Module):
    def __init__(self, mf):
        super().__init__()
        self.encoder = encoder_from_model(mf)
        lab = mf.labels
        self.has_labels = lab is not None
        if lab:
            self.register_buffer("labels", torch.from_numpy(lab[1]).float())
            self.scale = float(lab[2])

    def forward(self, logmel):
        e = F.normalize(self.encoder(logmel), dim=1)
        if self.has_labels:
            return e, torch.softmax(self.scale * e @ self.labels.T, dim=1)
        return e


def export(model_path, out_path, frames=101, opset=13):
    """Writes the ONNX file; returns the OnnxEncoder (eval mode) it traced."""
    mf = ModelFile.load(model_path)
    m = OnnxEncoder(mf).eval()
    x = torch.zeros(1, 1, mf.mel.n_mels, frames)
    outs = ["embedding", "scores"] if m.has_labels else ["embedding"]
    axes = {"logmel": {0: "batch", 3: "frames"}}
    axes.update({o: {0: "batch"} for o in outs})
    torch.onnx.export(m, (x,), out_path, input_names=["logmel"], output_names=outs,
                      dynamic_axes=axes, opset_version=opset, do_constant_folding=True)
    try:
        import onnx
    except ImportError:
        return m
    om = onnx.load(out_path)
    keep = [k for k in mf.metadata if k.startswith("clar.") and not k.startswith("clar.text.")]
    for k in keep:
        p = om.metadata_props.add()
        p.key, p.value = k, mf.metadata[k]
    onnx.checker.check_model(om)
    onnx.save(om, out_path)
    return m


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m clar.onnx")
    p.add_argument("model")
    p.add_argument("out")
    p.add_argument("--frames", type=int, default=101)
    p.add_argument("--opset", type=int, default=13)
    a = p.parse_args(argv)
    export(a.model, a.out, a.frames, a.opset)
    print(f"wrote {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
