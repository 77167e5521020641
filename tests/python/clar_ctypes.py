# SPDX-License-Identifier: LGPL-2.1-or-later
"""ctypes bindings to the few libclar calls the reference tests need, and a
minimal safetensors writer (format: 8-byte LE header size, JSON, raw data)."""
import ctypes
import json
import os
import struct
import sys

class MelParams(ctypes.Structure):
    _fields_ = [("sample_rate", ctypes.c_int), ("n_fft", ctypes.c_int),
                ("win_length", ctypes.c_int), ("hop_length", ctypes.c_int),
                ("n_mels", ctypes.c_int), ("f_min", ctypes.c_float),
                ("f_max", ctypes.c_float), ("log_offset", ctypes.c_float),
                ("center", ctypes.c_int)]


class Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("message", ctypes.c_char * 256)]


def load_lib():
    path = os.environ.get("CLAR_LIBRARY")
    if not path or not os.path.exists(path):
        print("CLAR_LIBRARY not set or missing; run through meson test")
        sys.exit(1)
    lib = ctypes.CDLL(path)
    P = ctypes.POINTER
    f32p = P(ctypes.c_float)
    lib.clar_mel_default_params.restype = MelParams
    lib.clar_mel_new.restype = ctypes.c_void_p
    lib.clar_mel_new.argtypes = [P(MelParams), f32p, P(Error)]
    lib.clar_mel_free.argtypes = [ctypes.c_void_p]
    lib.clar_mel_n_frames.restype = ctypes.c_size_t
    lib.clar_mel_n_frames.argtypes = [P(MelParams), ctypes.c_size_t]
    lib.clar_mel_compute.argtypes = [ctypes.c_void_p, f32p, ctypes.c_size_t, f32p, ctypes.c_size_t]
    lib.clar_mel_filterbank_htk.argtypes = [P(MelParams), f32p]
    lib.clar_model_load_file.argtypes = [ctypes.c_char_p, P(ctypes.c_void_p), P(Error)]
    lib.clar_model_unref.argtypes = [ctypes.c_void_p]
    lib.clar_session_new.restype = ctypes.c_void_p
    lib.clar_session_new.argtypes = [ctypes.c_void_p, P(Error)]
    lib.clar_session_free.argtypes = [ctypes.c_void_p]
    lib.clar_session_encode_raw.argtypes = [ctypes.c_void_p, f32p, ctypes.c_size_t, f32p]
    lib.clar_session_encode.argtypes = [ctypes.c_void_p, f32p, ctypes.c_size_t, f32p]
    lib.clar_session_embed.argtypes = [ctypes.c_void_p, f32p, ctypes.c_size_t, f32p]
    lib.clar_session_n_frames.restype = ctypes.c_size_t
    lib.clar_session_n_frames.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    return lib


def load_train_lib():
    """The trainer's shared twin (CLAR_TRAIN_LIBRARY), without prototypes."""
    path = os.environ.get("CLAR_TRAIN_LIBRARY")
    if not path or not os.path.exists(path):
        print("CLAR_TRAIN_LIBRARY not set or missing; run through meson test")
        sys.exit(1)
    return ctypes.CDLL(path)


def fptr(a):
    import numpy as np
    assert a.dtype == np.float32 and a.flags["C_CONTIGUOUS"]
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def write_safetensors(path, tensors, metadata):
    """tensors: dict name -> float32 numpy array; metadata: dict str -> str."""
    header = {"__metadata__": metadata}
    off = 0
    blobs = []
    for name, arr in tensors.items():
        b = arr.astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
                        "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
