# SPDX-License-Identifier: LGPL-2.1-or-later
"""Clip sets for the PyTorch trainer, read as clar-train reads them
(tools/dataset.c): a TSV manifest with columns
    path  label  split  source  group  caption
(optional header line starting with "path", '#' comments, paths relative
to the manifest's folder, label "" or "-" = unlabelled; rows without a
split column count as "train") or a folder per class (ROOT/LABEL/FILE,
all "train"). Audio is decoded once to mono float32 at the model's rate
(GStreamer through PyGObject: decodebin ! audioconvert ! audioresample,
as clar-train; plain PCM WAV files with the right rate also load without
GStreamer) and cached in one .npy store keyed by paths, sizes and mtimes."""
import hashlib
import json
import os
import sys
import wave
from dataclasses import dataclass, field

import numpy as np

AUDIO_EXT = (".wav", ".ogg", ".flac", ".mp3", ".opus", ".oga", ".aiff", ".au")


@dataclass
class Clip:
    path: str
    label: str = None        # None: unlabelled
    split: str = "train"
    source: str = ""
    group: str = ""
    caption: str = ""
    pcm: np.ndarray = field(default=None, repr=False)
    class_id: int = -1


def read_manifest(source, split="train"):
    """Clips of `split` (None: all) from a manifest or a folder tree."""
    clips = []
    if os.path.isdir(source):
        for label in sorted(os.listdir(source)):
            d = os.path.join(source, label)
            if not os.path.isdir(d):
                continue
            for root, dirs, files in os.walk(d):
                dirs.sort()
                for f in sorted(files):
                    if f.lower().endswith(AUDIO_EXT):
                        clips.append(Clip(os.path.join(root, f), label))
    else:
        base = os.path.dirname(source)
        with open(source, encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                line = line.rstrip("\r\n").rstrip()
                if not line or line.startswith("#") or (i == 0 and line.startswith("path")):
                    continue
                f = line.split("\t")
                if not f[0]:
                    continue
                has_split = len(f) >= 3
                sp = f[2] if has_split else "train"
                if split is not None and sp != split:
                    continue
                path = f[0] if os.path.isabs(f[0]) else os.path.join(base, f[0])
                label = f[1] if len(f) > 1 and f[1] not in ("", "-") else None
                clips.append(Clip(path, label, sp, *(f[3:6] + [""] * (3 - len(f[3:6])))))
    if not clips:
        raise ValueError(f"{source}: no clips" + (f" in split {split}" if split else ""))
    return clips


def add_unlabelled(clips, folder):
    n0 = len(clips)
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for f in sorted(files):
            if f.lower().endswith(AUDIO_EXT):
                clips.append(Clip(os.path.join(root, f)))
    if len(clips) == n0:
        raise ValueError(f"no audio in {folder}")


def index_classes(clips, names=None):
    """Sorted label names (or the given ones); sets class_id."""
    if names is None:
        names = sorted({c.label for c in clips if c.label is not None})
    pos = {n: i for i, n in enumerate(names)}
    for c in clips:
        c.class_id = pos.get(c.label, -1) if c.label is not None else -1
    return list(names)


def _read_wav(path, rate):
    with wave.open(path, "rb") as w:
        if w.getframerate() != rate or w.getsampwidth() != 2 or w.getcomptype() != "NONE":
            return None
        a = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
        return a.reshape(-1, w.getnchannels()).mean(axis=1).astype(np.float32)


_gst = None


def _decode_gst(path, rate):
    global _gst
    if _gst is None:
        import gi
        gi.require_version("Gst", "1.0")
        from gi.repository import Gst
        Gst.init(None)
        _gst = Gst
    Gst = _gst
    desc = ("filesrc name=src ! decodebin ! audioconvert ! audioresample ! "
            f"audio/x-raw,format=F32LE,channels=1,rate={rate} ! appsink name=sink sync=false")
    pipe = Gst.parse_launch(desc)
    pipe.get_by_name("src").set_property("location", path)
    sink = pipe.get_by_name("sink")
    chunks = []
    pipe.set_state(Gst.State.PLAYING)
    try:
        while True:
            s = sink.emit("try-pull-sample", 60 * Gst.SECOND)
            if s is None:
                break
            buf = s.get_buffer()
            ok, info = buf.map(Gst.MapFlags.READ)
            if ok:
                chunks.append(np.frombuffer(info.data, dtype="<f4").copy())
                buf.unmap(info)
        msg = pipe.get_bus().pop_filtered(Gst.MessageType.ERROR)
        if msg is not None:
            raise RuntimeError(msg.parse_error()[0].message)
    finally:
        pipe.set_state(Gst.State.NULL)
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)


def decode(path, rate):
    """Mono float32 PCM at `rate`."""
    if path.lower().endswith(".wav"):
        try:
            a = _read_wav(path, rate)
            if a is not None:
                return a
        except (wave.Error, EOFError):
            pass
    return _decode_gst(path, rate)


def _cache_key(clips, rate):
    h = hashlib.sha1(str(rate).encode())
    for c in clips:
        st = os.stat(c.path) if os.path.exists(c.path) else None
        h.update(f"{c.path}\0{st.st_size if st else -1}\0{st.st_mtime_ns if st else -1}\n".encode())
    return h.hexdigest()[:16]


def load_audio(clips, rate, cache_dir=None, log=sys.stderr):
    """Decodes every clip (or reads the cache); drops clips that fail with a
    warning. Returns the kept clips."""
    key = _cache_key(clips, rate)
    store = index = None
    if cache_dir:
        os.makedirs(cache_dir, exist_ok=True)
        store = os.path.join(cache_dir, f"pcm-{key}.npy")
        index = os.path.join(cache_dir, f"pcm-{key}.json")
        if os.path.exists(store) and os.path.exists(index):
            pcm = np.load(store, mmap_mode="r")
            with open(index) as f:
                offs = json.load(f)
            kept = []
            for c, (b, e) in zip(clips, offs):
                if b >= 0:
                    c.pcm = pcm[b:e]
                    kept.append(c)
            return kept
    kept, offs, parts, pos = [], [], [], 0
    for i, c in enumerate(clips):
        try:
            a = decode(c.path, rate)
            if not len(a) or not np.all(np.isfinite(a)):
                raise RuntimeError("no audio" if not len(a) else "non-finite samples")
        except Exception as e:  # noqa: BLE001 - any decoder failure skips the clip
            print(f"warning: skipped {c.path}: {e}", file=log)
            offs.append((-1, -1))
            continue
        c.pcm = a
        kept.append(c)
        parts.append(a)
        offs.append((pos, pos + len(a)))
        pos += len(a)
        if (i + 1) % 500 == 0:
            print(f"decoded {i + 1}/{len(clips)} clips", file=log)
    if store:
        tmp = store + ".tmp.npy"
        np.save(tmp, np.concatenate(parts) if parts else np.zeros(0, np.float32))
        os.replace(tmp, store)
        with open(index + ".tmp", "w") as f:
            json.dump(offs, f)
        os.replace(index + ".tmp", index)
    return kept


def label_fraction(clips, n_classes, frac, seed):
    """Keeps labels on ceil(frac x n_c) clips of each class (at least one),
    chosen by a seeded shuffle (as clar-train's apply_label_fraction; the
    shuffle is numpy's, not the C generator)."""
    if frac >= 1.0:
        return
    for c in range(n_classes):
        idx = [i for i, x in enumerate(clips) if x.class_id == c]
        rng = np.random.default_rng([int(seed), 7919, c])
        rng.shuffle(idx)
        keep = max(1, int(np.ceil(frac * len(idx)))) if idx else 0
        for i in idx[keep:]:
            clips[i].class_id = -1
