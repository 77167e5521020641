# SPDX-License-Identifier: LGPL-2.1-or-later
"""The text tower of include/clar/text.h in Python (version 1; a version-2
tower, which expands texts with WordNet, is refused): the hashed word and
character n-gram features (FNV-1a 32) and a PyTorch module (mean of
embedding rows, linear projection, L2 norm). tests/python/test_pyclar.py
checks the features against libclar's clar_text_features and the
embeddings against clar_text_embed."""
import math

import numpy as np

TEXT_MAX_BYTES = 4096


def _fnv1a(seed, prefix, s):
    """FNV-1a 32-bit, offset basis 2166136261 xor seed, prime 16777619."""
    h = (2166136261 ^ seed) & 0xFFFFFFFF
    for c in prefix:
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    for c in s:
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    return h


def _is_word_byte(c):
    return (97 <= c <= 122) or (65 <= c <= 90) or (48 <= c <= 57) or c >= 0x80


def features(text, seed, buckets, char_ngram):
    """Bucket ids of text's features in order (words left to right, each
    word's "w:" feature then its "c:" n-grams of "<" + word + ">"), as
    clar_text_features. `text` is str (UTF-8 encoded) or bytes."""
    b = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    if len(b) > TEXT_MAX_BYTES:
        raise ValueError(f"text longer than {TEXT_MAX_BYTES} bytes")
    ids, i, n = [], 0, len(b)
    while i < n:
        while i < n and not _is_word_byte(b[i]):
            i += 1
        if i == n:
            break
        start = i
        while i < n and _is_word_byte(b[i]):
            i += 1
        word = bytes(c + 32 if 65 <= c <= 90 else c for c in b[start:i])
        ids.append(_fnv1a(seed, b"w:", word) % buckets)
        if char_ngram > 0:
            marked = b"<" + word + b">"
            if len(marked) < char_ngram:
                ids.append(_fnv1a(seed, b"c:", marked) % buckets)
            else:
                for k in range(len(marked) - char_ngram + 1):
                    ids.append(_fnv1a(seed, b"c:", marked[k:k + char_ngram]) % buckets)
    return ids


try:
    import torch
    import torch.nn as _nn
    _Base = _nn.Module
except ImportError:  # features() works without torch
    torch = None
    _Base = object


class TextTower(_Base):
    """text.h's tower: h = mean of text.embedding rows of the features,
    u = W h + b, output u/|u|; log_scale is CLAP's learned temperature
    (exp(log_scale) = clar.text.logit_scale)."""

    def __init__(self, buckets, dim, out_dim, hash_seed, char_ngram, logit_scale=1 / 0.07):
        super().__init__()
        self.hash_seed, self.char_ngram, self.buckets = int(hash_seed), int(char_ngram), int(buckets)
        self.embedding = _nn.EmbeddingBag(buckets, dim, mode="mean")
        self.proj = _nn.Linear(dim, out_dim)
        self.log_scale = _nn.Parameter(torch.tensor(math.log(logit_scale)))

    def ids(self, texts):
        ids, offs = [], []
        for t in texts:
            f = features(t, self.hash_seed, self.buckets, self.char_ngram)
            if not f:
                raise ValueError(f"text {t!r} has no words")
            offs.append(len(ids))
            ids.extend(f)
        return torch.tensor(ids, dtype=torch.long), torch.tensor(offs, dtype=torch.long)

    def forward(self, texts):
        ids, offs = self.ids(texts)
        dev = self.proj.weight.device
        u = self.proj(self.embedding(ids.to(dev), offs.to(dev)))
        return torch.nn.functional.normalize(u, dim=1)

    def to_model_file(self, mf, extra=None):
        """Writes the tower into ModelFile mf (replacing any)."""
        mf.set_text(self.hash_seed, self.char_ngram,
                    self.embedding.weight.detach().cpu().numpy(),
                    self.proj.weight.detach().cpu().numpy(),
                    self.proj.bias.detach().cpu().numpy(),
                    float(torch.exp(self.log_scale.detach())), extra)


def make_tower(buckets, dim, out_dim, seed=1, char_ngram=3, logit_scale=1 / 0.07):
    """A new TextTower as clar_clap_tower_new: hash seed = seed,
    E ~ N(0,1)/sqrt(dim), W ~ U(+-1/sqrt(dim)), b = 0, scale 1/0.07."""
    t = TextTower(buckets, dim, out_dim, seed, char_ngram, logit_scale)
    g = torch.Generator().manual_seed(int(seed))
    a = 1.0 / math.sqrt(dim)
    with torch.no_grad():
        t.embedding.weight.normal_(0, a, generator=g)
        t.proj.weight.uniform_(-a, a, generator=g)
        t.proj.bias.zero_()
    return t


def tower_from_model(mf):
    """The model file's text tower as a TextTower (None without one)."""
    if not mf.has_text:
        return None
    if mf.metadata.get("clar.text.version", "1") != "1" or "clar.text.wordnet" in mf.metadata:
        # Version 2 expands texts with WordNet (text.h step 2b), which this
        # module does not implement: refuse rather than embed differently.
        raise ValueError("the model's text tower expands texts with WordNet (clar.text.version "
                         f"{mf.metadata.get('clar.text.version')}); clar.text supports version 1 only")
    p = mf.text_params()
    E = mf.tensors["text.embedding"]
    t = TextTower(E.shape[0], E.shape[1], mf.tensors["text.proj.weight"].shape[0], p["seed"],
                  p["char_ngram"], p["logit_scale"])
    with torch.no_grad():
        t.embedding.weight.copy_(torch.from_numpy(np.asarray(E, dtype=np.float32)))
        t.proj.weight.copy_(torch.from_numpy(mf.tensors["text.proj.weight"]))
        t.proj.bias.copy_(torch.from_numpy(mf.tensors["text.proj.bias"]))
    return t
