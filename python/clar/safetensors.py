# SPDX-License-Identifier: LGPL-2.1-or-later
"""A small safetensors reader and writer (numpy only).

The format (https://github.com/huggingface/safetensors, "Format"): an
8-byte little-endian header length N, N bytes of JSON mapping each tensor
name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative
to the byte after the header) plus an optional "__metadata__" object of
string values, then the raw little-endian data. The project's files hold
only F32 tensors (src/safetensors.c); the reader also accepts the other
plain numeric dtypes so that foreign files give a clear message later
rather than here.

The checks follow libclar's loader: header size within 2..16 MiB, valid
JSON object, known dtype, shape matching the byte range, ranges inside the
file and not overlapping, metadata values strings.
"""
import json
import os
import struct

import numpy as np

HEADER_MAX = 16 * 1024 * 1024

_DTYPES = {
    "F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"), "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}


class SafetensorsError(ValueError):
    """A file that is not a valid safetensors file (message names the problem)."""


def loads(data, name="<memory>"):
    """Parses bytes; returns (tensors: dict name -> ndarray (copies, in file
    order), metadata: dict str -> str)."""
    if len(data) < 8:
        raise SafetensorsError(f"{name}: {len(data)} bytes, too short for a safetensors header")
    (n,) = struct.unpack("<Q", data[:8])
    if n < 2 or n > HEADER_MAX:
        raise SafetensorsError(f"{name}: header length {n} is outside 2..{HEADER_MAX} bytes "
                               "(not a safetensors file?)")
    if 8 + n > len(data):
        raise SafetensorsError(f"{name}: header of {n} bytes runs past the end of the file "
                               f"({len(data)} bytes)")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{name}: header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{name}: header is not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise SafetensorsError(f"{name}: __metadata__ must map keys to strings")
    body = memoryview(data)[8 + n:]
    ranges = []
    tensors = {}
    for key, info in header.items():
        if not isinstance(info, dict):
            raise SafetensorsError(f"{name}: entry {key!r} is not an object")
        dt = _DTYPES.get(info.get("dtype"))
        shape, offs = info.get("shape"), info.get("data_offsets")
        if dt is None:
            raise SafetensorsError(f"{name}: tensor {key!r} has unsupported dtype "
                                   f"{info.get('dtype')!r}")
        if (not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape)
                or not isinstance(offs, list) or len(offs) != 2
                or not all(isinstance(o, int) for o in offs)):
            raise SafetensorsError(f"{name}: tensor {key!r} has a bad shape or data_offsets")
        b, e = offs
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if not (0 <= b <= e <= len(body)) or e - b != count * dt.itemsize:
            raise SafetensorsError(f"{name}: tensor {key!r}: bytes {b}..{e} do not hold "
                                   f"{shape} x {info['dtype']} inside the {len(body)}-byte body")
        ranges.append((b, e, key))
        tensors[key] = np.frombuffer(body[b:e], dtype=dt).reshape(shape).copy()
    ranges.sort()
    for (b0, e0, k0), (b1, e1, k1) in zip(ranges, ranges[1:]):
        if b1 < e0:
            raise SafetensorsError(f"{name}: tensors {k0!r} and {k1!r} overlap")
    return tensors, dict(meta)


def load(path):
    with open(path, "rb") as f:
        return loads(f.read(), str(path))


def dumps(tensors, metadata=None):
    """tensors: dict name -> array (written as F32 unless already another
    supported dtype); metadata: dict str -> str. Returns bytes."""
    header = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError(f"metadata {k!r}: keys and values must be strings")
        header["__metadata__"] = dict(metadata)
    blobs, off = [], 0
    for key, arr in tensors.items():
        a = np.asarray(arr)
        if a.dtype.kind == "f" and a.dtype != np.float32:
            a = a.astype(np.float32)
        a = np.ascontiguousarray(a.astype(a.dtype.newbyteorder("<")))
        dt = next((k for k, v in _DTYPES.items() if a.dtype == v), None)
        if dt is None:
            raise TypeError(f"tensor {key!r}: dtype {a.dtype} not supported")
        b = a.tobytes()
        header[key] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    # Pad the header with spaces so the data starts 8-byte aligned (as the
    # reference writer does).
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def save(path, tensors, metadata=None):
    data = dumps(tensors, metadata)
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
