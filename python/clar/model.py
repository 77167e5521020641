# SPDX-License-Identifier: LGPL-2.1-or-later
"""The project's model file (include/clar/model.h) in Python: metadata,
front-end parameters, mel filterbank, layer list, weights, label set and
text tower, read and written with clar.safetensors (numpy only; torch is
needed only to build modules, clar.nn)."""
import json
from dataclasses import dataclass

import numpy as np

from . import safetensors

FORMAT = "clar-model"
FORMAT_VERSION = 1


@dataclass
class MelParams:
    """clar_mel_params (include/clar/mel.h); defaults are libclar's."""
    sample_rate: int = 16000
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    n_mels: int = 64
    f_min: float = 50.0
    f_max: float = 8000.0
    log_offset: float = 1e-6
    center: bool = True

    def n_frames(self, n_samples):
        """clar_mel_n_frames: frames of a window of n_samples."""
        if self.center:
            return 1 + n_samples // self.hop_length
        return 0 if n_samples < self.n_fft else 1 + (n_samples - self.n_fft) // self.hop_length

    def metadata(self):
        return {
            "clar.sample_rate": str(self.sample_rate), "clar.n_fft": str(self.n_fft),
            "clar.win_length": str(self.win_length), "clar.hop_length": str(self.hop_length),
            "clar.n_mels": str(self.n_mels), "clar.f_min": _g9(self.f_min),
            "clar.f_max": _g9(self.f_max), "clar.log_offset": _g9(self.log_offset),
            "clar.center": "1" if self.center else "0",
        }


def _g9(x):
    """printf "%.9g" (what the C writer uses), so files compare equal."""
    return "%.9g" % float(x)


def htk_filterbank(p):
    """[n_mels, n_fft/2+1] triangular HTK-scale filters without area
    normalisation: torchaudio.functional.melscale_fbanks(..., norm=None,
    mel_scale="htk") transposed (the definition of src/mel.c), computed in
    float64 and rounded once."""
    n_freqs = p.n_fft // 2 + 1
    all_freqs = np.linspace(0, p.sample_rate // 2, n_freqs)
    m_min, m_max = (2595.0 * np.log10(1.0 + f / 700.0) for f in (p.f_min, p.f_max))
    f_pts = 700.0 * (10 ** (np.linspace(m_min, m_max, p.n_mels + 2) / 2595.0) - 1.0)
    f_diff = np.diff(f_pts)
    slopes = f_pts[None, :] - all_freqs[:, None]
    down, up = -slopes[:, :-2] / f_diff[:-1], slopes[:, 2:] / f_diff[1:]
    return np.maximum(0.0, np.minimum(down, up)).T.astype(np.float32)


class ModelFileError(ValueError):
    pass


class ModelFile:
    """A loaded (or to-be-written) model file: `metadata` (str -> str) and
    `tensors` (name -> float32 ndarray), with typed accessors."""

    def __init__(self, metadata=None, tensors=None):
        self.metadata = dict(metadata or {})
        self.tensors = dict(tensors or {})

    # ---- I/O ----
    @classmethod
    def load(cls, path):
        tensors, meta = safetensors.load(path)
        mf = cls(meta, tensors)
        fmt = meta.get("clar.format")
        if fmt != FORMAT:
            raise ModelFileError(f"{path}: clar.format is {fmt!r}, not {FORMAT!r}")
        for key in ("clar.architecture", "clar.embedding_dim", "clar.sample_rate"):
            if key not in meta:
                raise ModelFileError(f"{path}: metadata key {key} missing")
        return mf

    def save(self, path):
        safetensors.save(path, self.tensors, self.metadata)

    # ---- typed views ----
    @property
    def mel(self):
        m = self.metadata
        try:
            return MelParams(int(m["clar.sample_rate"]), int(m["clar.n_fft"]),
                             int(m["clar.win_length"]), int(m["clar.hop_length"]),
                             int(m["clar.n_mels"]), float(m["clar.f_min"]),
                             float(m["clar.f_max"]), float(m["clar.log_offset"]),
                             m.get("clar.center", "1") != "0")
        except (KeyError, ValueError) as e:
            raise ModelFileError(f"front-end metadata missing or malformed: {e}") from None

    @property
    def architecture(self):
        return json.loads(self.metadata["clar.architecture"])

    @property
    def embedding_dim(self):
        return int(self.metadata["clar.embedding_dim"])

    @property
    def window_samples(self):
        return int(self.metadata.get("clar.window_samples", self.mel.sample_rate))

    @property
    def hop_samples(self):
        return int(self.metadata.get("clar.hop_samples", self.window_samples // 2))

    @property
    def filterbank(self):
        return self.tensors["frontend.mel_filterbank"]

    def fingerprint(self):
        """clar_model_get_fingerprint (model.h "Encoder fingerprint"): FNV-1a 64
        over the front end, the filterbank and each layer's line and tensors,
        as src/model.c serialises them (floats as C floats through _g9;
        fields an op does not have are 0, unnamed layers have name "")."""
        h = 14695981039346656037

        def fnv(h, data):
            for b in data:
                h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
            return h

        p = self.mel
        h = fnv(h, b"clar-encoder-v1\n")
        h = fnv(h, (f"{p.sample_rate} {p.n_fft} {p.win_length} {p.hop_length} {p.n_mels} "
                    f"{_g9(np.float32(p.f_min))} {_g9(np.float32(p.f_max))} {_g9(np.float32(p.log_offset))} {int(p.center)}\n").encode())
        h = fnv(h, np.ascontiguousarray(self.tensors["frontend.mel_filterbank"], "<f4").tobytes())
        for L in self.architecture:
            op = L["op"]
            named = op in ("conv2d", "batchnorm2d", "linear", "dwconv2d")
            name = L["name"] if named else ""
            cin = cout = kernel = pad = 0
            eps, stride = 0.0, 1
            if op == "conv2d":
                cin, cout, kernel, pad = L["in"], L["out"], L["kernel"], L.get("pad", 0)
            elif op == "batchnorm2d":
                cin = cout = L["channels"]
                eps = L.get("eps", 1e-5)
            elif op in ("maxpool2d", "avgpool2d"):
                kernel = L["kernel"]
            elif op == "linear":
                cin, cout = L["in"], L["out"]
            elif op == "dwconv2d":
                cin = cout = L["channels"]
                kernel, pad, stride = L["kernel"], L.get("pad", 0), L.get("stride", 1)
            line = f"{op} {name} {cin} {cout} {kernel} {pad} {_g9(np.float32(eps))}"
            h = fnv(h, (line + (f" {stride}" if op == "dwconv2d" else "") + "\n").encode())
            for what in ("weight", "bias", "running_mean", "running_var"):
                t = self.tensors.get(f"encoder.{name}.{what}") if named else None
                if t is not None:
                    h = fnv(h, np.ascontiguousarray(t, "<f4").tobytes())
        return f"fnv1a64:{h:016x}"

    def encoder_tensors(self):
        return {k[len("encoder."):]: v for k, v in self.tensors.items() if k.startswith("encoder.")}

    # Labels: names, unit rows and the softmax scale (labels.h).
    @property
    def labels(self):
        if "clar.labels" not in self.metadata:
            return None
        names = json.loads(self.metadata["clar.labels"])
        return names, self.tensors["labels.embeddings"], float(
            self.metadata.get("clar.logit_scale", "10"))

    def set_labels(self, names, vectors, scale):
        v = np.asarray(vectors, dtype=np.float64)
        if v.shape != (len(names), self.embedding_dim):
            raise ModelFileError(f"label vectors {v.shape} do not match {len(names)} names x "
                                 f"{self.embedding_dim}")
        # labels.h stores unit rows (clar_labels_new normalises).
        v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        self.metadata["clar.labels"] = json.dumps(list(names), ensure_ascii=False,
                                                  separators=(",", ":"))
        self.metadata["clar.logit_scale"] = _g9(scale)
        self.tensors["labels.embeddings"] = v.astype(np.float32)

    def tie_labels(self):
        """Records this file's encoder fingerprint as the one its label
        vectors were made with (clar.labels.encoder_fingerprint): for
        vectors made with this very encoder (e.g. its trained classifier),
        so that libclar can check them."""
        self.metadata["clar.labels.encoder_fingerprint"] = self.fingerprint()

    def drop_labels(self):
        self.metadata.pop("clar.labels", None)
        self.metadata.pop("clar.labels.encoder_fingerprint", None)
        self.metadata.pop("clar.logit_scale", None)
        self.tensors.pop("labels.embeddings", None)

    # Text tower (text.h).
    @property
    def has_text(self):
        return "text.embedding" in self.tensors

    def text_params(self):
        m = self.metadata
        return {"seed": int(m["clar.text.seed"]), "buckets": int(m["clar.text.buckets"]),
                "char_ngram": int(m["clar.text.char_ngram"]), "dim": int(m["clar.text.dim"]),
                "logit_scale": float(m["clar.text.logit_scale"])}

    def set_text(self, seed, char_ngram, embedding, proj_weight, proj_bias, logit_scale,
                 extra=None):
        """Replaces any text tower (text.h keys and tensors)."""
        self.drop_text()
        E = np.asarray(embedding, dtype=np.float32)
        self.metadata.update({
            "clar.text.version": "1", "clar.text.hash": "fnv1a32",
            "clar.text.seed": str(int(seed) & 0xFFFFFFFF), "clar.text.buckets": str(E.shape[0]),
            "clar.text.char_ngram": str(int(char_ngram)), "clar.text.dim": str(E.shape[1]),
            "clar.text.logit_scale": _g9(logit_scale)})
        self.metadata.update(extra or {})
        self.tensors["text.embedding"] = E
        self.tensors["text.proj.weight"] = np.asarray(proj_weight, dtype=np.float32)
        self.tensors["text.proj.bias"] = np.asarray(proj_bias, dtype=np.float32)

    def drop_text(self):
        for k in [k for k in self.metadata if k.startswith("clar.text.")]:
            del self.metadata[k]
        for k in [k for k in self.tensors if k.startswith("text.")]:
            del self.tensors[k]


def new_model_file(mel, window_samples, hop_samples, embedding_dim, architecture,
                   name=None, description=None):
    """The header of clar_model_write_header (src/model.c): format keys,
    front end, window/hop, layer list and the HTK filterbank."""
    meta = {"clar.format": FORMAT, "clar.format_version": str(FORMAT_VERSION)}
    meta.update(mel.metadata())
    meta.update({"clar.window_samples": str(int(window_samples)),
                 "clar.hop_samples": str(int(hop_samples)),
                 "clar.embedding_dim": str(int(embedding_dim)),
                 "clar.architecture": architecture if isinstance(architecture, str)
                 else json.dumps(architecture, separators=(",", ":"))})
    if name:
        meta["clar.name"] = name
    if description:
        meta["clar.description"] = description
    return ModelFile(meta, {"frontend.mel_filterbank": htk_filterbank(mel)})
