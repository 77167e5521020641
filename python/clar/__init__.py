# SPDX-License-Identifier: LGPL-2.1-or-later
"""clar: the gst-clar model format, network, losses and trainer in Python.

  clar.safetensors  small safetensors reader/writer (numpy)
  clar.model        ModelFile: metadata, front end, layer list, labels, text tower
  clar.nn           PyTorch modules from the layer list (Encoder, LogMel,
                    ClarModel, TrainNet) and back (register_layer for new ops)
  clar.text         hashed-feature text tower (text.h)
  clar.losses       NT-Xent, SupCon, CE, CLAP with distributed gathering
  clar.augment      clar-train's augmentations
  clar.data         manifests, decoding, cache
  clar.train        the (distributed) trainer: python3 -m clar.train
  clar.onnx         ONNX export: python3 -m clar.onnx

Only clar.safetensors, clar.model, clar.text.features and clar.captions
work without PyTorch.
"""
__version__ = "0.1"
