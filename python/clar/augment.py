# SPDX-License-Identifier: LGPL-2.1-or-later
"""CLAR's audio augmentations as clar-train applies them
(src/train/augment.c, Al-Tahan & Mohsenzadeh 2021, sec. 3.2), in numpy:
the same operations, order, probabilities and parameter ranges, drawn from
numpy's generator (so a view is not sample-identical to the C trainer's
for the same seed; its distribution is the same). Order per view: pitch
shift by linear resampling, random crop/time shift, time stretch (WSOLA,
pitch kept), gain, fades, time mask, coloured noise at a random SNR, clip
to +-4."""
from dataclasses import dataclass, fields

import numpy as np


@dataclass
class AugmentConfig:
    """clar_augment_config; defaults = clar_augment_default()."""
    p_pitch: float = 0.3
    pitch_semitones: float = 2.0
    p_noise: float = 0.5
    snr_min_db: float = 5.0
    snr_max_db: float = 30.0
    p_fade: float = 0.3
    fade_max: float = 0.3
    p_mask: float = 0.3
    mask_max: float = 0.2
    p_gain: float = 0.5
    gain_db: float = 6.0
    p_stretch: float = 0.3
    stretch_max: float = 0.2

    @classmethod
    def none(cls):
        return cls(**{f.name: 0.0 for f in fields(cls)})

    def parse(self, spec):
        """clar_augment_parse: "pitch=P:S,noise=P:MIN:MAX,fade=P:MAX,
        mask=P:MAX,stretch=P:MAX,gain=P:DB" over the current values."""
        keys = {"pitch": ("p_pitch", "pitch_semitones"),
                "noise": ("p_noise", "snr_min_db", "snr_max_db"),
                "fade": ("p_fade", "fade_max"), "mask": ("p_mask", "mask_max"),
                "stretch": ("p_stretch", "stretch_max"), "gain": ("p_gain", "gain_db")}
        for tok in filter(None, (spec or "").split(",")):
            k, eq, v = tok.partition("=")
            vals = [float(x) for x in v.split(":")] if eq else []
            if k not in keys or not vals or len(vals) > len(keys[k]) or not 0 <= vals[0] <= 1 \
                    or (k == "noise" and len(vals) == 2):
                raise ValueError(f"bad augmentation spec {tok!r}")
            for name, x in zip(keys[k], vals):
                setattr(self, name, x)
        return self


def resample_linear(x, ratio, start, length):
    """out[i] = x at position start + i*ratio, linear interpolation, zero
    outside (clar_resample_linear)."""
    pos = start + np.arange(length) * ratio
    k = np.floor(pos).astype(np.int64)
    f = pos - k
    n = len(x)
    a = np.where((k >= 0) & (k < n), x[np.clip(k, 0, n - 1)], 0.0)
    b = np.where((k + 1 >= 0) & (k + 1 < n), x[np.clip(k + 1, 0, n - 1)], 0.0)
    return (a + (b - a) * f).astype(np.float32)


def _onepole(w, a, b):
    """y[n] = a y[n-1] + b w[n] (torchaudio's lfilter runs the recursion in C++)."""
    import torch
    import torchaudio.functional as AF
    y = AF.lfilter(torch.from_numpy(w), torch.tensor([1.0, -a], dtype=torch.float64),
                   torch.tensor([b, 0.0], dtype=torch.float64), clamp=False)
    return y.numpy()


def add_noise(x, color, snr_db, rng):
    """White, pink (Paul Kellet's economy filter) or brown (leaky
    integrator) noise at snr_db below the signal's power, or below full
    scale for a silent signal (clar_add_noise)."""
    n = len(x)
    if n == 0:
        return x
    w = rng.standard_normal(n)
    if color == 0:
        nz = w
    elif color == 1:
        nz = (_onepole(w, 0.99765, 0.0990460) + _onepole(w, 0.96300, 0.2965164)
              + _onepole(w, 0.57000, 1.0526913) + w * 0.1848)
    else:
        nz = _onepole(w, 0.998, 0.1)
    ps = float(np.mean(np.asarray(x, np.float64) ** 2))
    pn = float(np.mean(nz ** 2))
    if ps < 1e-12:
        ps = 1.0
    g = np.sqrt(ps / (pn * 10 ** (snr_db / 10))) if pn > 0 else 0.0
    return (x + g * nz).astype(np.float32)


def fade(x, fi, fo):
    """Half-cosine fade in/out (clar_fade)."""
    n = len(x)
    fi, fo = min(fi, n), min(fo, n)
    if fi:
        x[:fi] *= (0.5 - 0.5 * np.cos(np.pi * np.arange(fi) / fi)).astype(np.float32)
    if fo:
        x[n - fo:] *= (0.5 - 0.5 * np.cos(np.pi * np.arange(fo) / fo))[::-1].astype(np.float32)
    return x


_G, _HS, _DELTA = 1024, 256, 128
_WIN = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(_G) / _G)).astype(np.float32)


def time_stretch(x, rate, start, length):
    """WSOLA (Verhelst & Roelands 1993) as clar_time_stretch: grains of
    1024 every 256 output samples, each read near start + k*256*rate,
    shifted by up to +-128 (step 2) to maximise the correlation (every
    second sample of the 768-sample overlap) with the natural continuation
    of the previous grain; Hann grains summing to 2. The candidates'
    correlations are one np.correlate over the even-offset samples."""
    n = len(x)
    out = np.zeros(length, dtype=np.float32)
    front = 2 * _DELTA
    xp = np.concatenate([np.zeros(front, np.float64), np.asarray(x, np.float64),
                         np.zeros(2 * _G + 2 * _DELTA, np.float64)])
    xf = np.asarray(x, np.float32)
    n_ov = (_G - _HS) // 2                      # 384 products per candidate
    offs = np.arange(-_DELTA, _DELTA + 1, 2)    # 129 candidate shifts
    prev = -1
    k = 0
    while k * _HS < length:
        nominal = start + int(np.floor(k * _HS * rate))
        best = nominal
        if prev >= 0:
            cands = nominal + offs
            valid = (cands >= 0) & (cands + _G - _HS <= n)
            if valid.any():
                idx = prev + _HS + 2 * np.arange(n_ov)
                ref = np.where(idx < n, xp[np.minimum(idx, n + _G) + front], 0.0)
                base = nominal - _DELTA + front
                y = xp[base:base + 2 * (len(offs) + n_ov - 1):2]
                corr = np.correlate(y, ref, "valid")
                corr[~valid] = -np.inf
                best = int(cands[int(np.argmax(corr))])
        prev = best
        o0, i0 = k * _HS - (_G - _HS), best - (_G - _HS)
        lo = max(0, -o0, -i0)
        hi = min(_G, length - o0, n - i0)
        if hi > lo:
            out[o0 + lo:o0 + hi] += _WIN[lo:hi] * xf[i0 + lo:i0 + hi] * np.float32(0.5)
        k += 1
    return out


def augment_view(cfg, rng, clip, length):
    """One view of `length` samples from clip (clar_augment_view)."""
    clip = np.asarray(clip, dtype=np.float32)
    n = len(clip)
    ratio = 1.0
    if cfg.p_pitch > 0 and rng.random() < cfg.p_pitch:
        s = (2 * rng.random() - 1) * cfg.pitch_semitones
        ratio = 2.0 ** (s / 12.0)
    span = n / ratio
    if span > length:
        start = rng.random() * (span - length) * ratio
    else:
        start = -rng.random() * (length - span) * ratio
    if cfg.p_stretch > 0 and rng.random() < cfg.p_stretch and start >= 0:
        m = 1.0 + cfg.stretch_max
        rate = np.exp((2 * rng.random() - 1) * np.log(m))
        if ratio != 1.0:
            tmp = resample_linear(clip, ratio, 0.0, int(n / ratio))
            out = time_stretch(tmp, rate, int(start / ratio), length)
        else:
            out = time_stretch(clip, rate, int(start), length)
    else:
        out = resample_linear(clip, ratio, start, length)
    if cfg.p_gain > 0 and rng.random() < cfg.p_gain:
        out *= np.float32(10 ** ((2 * rng.random() - 1) * cfg.gain_db / 20))
    if cfg.p_fade > 0 and rng.random() < cfg.p_fade:
        out = fade(out, int(rng.random() * cfg.fade_max * length),
                   int(rng.random() * cfg.fade_max * length))
    if cfg.p_mask > 0 and rng.random() < cfg.p_mask:
        ml = int(rng.random() * cfg.mask_max * length)
        s0 = int(rng.random() * (length - ml))
        out[s0:s0 + ml] = 0
    if cfg.p_noise > 0 and rng.random() < cfg.p_noise:
        snr = cfg.snr_min_db + rng.random() * (cfg.snr_max_db - cfg.snr_min_db)
        out = add_noise(out, int(rng.integers(3)), snr, rng)
    return np.clip(out, -4.0, 4.0).astype(np.float32)
