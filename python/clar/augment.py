# SPDX-License-Identifier: LGPL-2.1-or-later
"""CLAR's audio augmentations as clar-train applies them
(src/train/augment.c, Al-Tahan & Mohsenzadeh 2021, sec. 3.2), in numpy
(recursive filters through torchaudio.functional.lfilter): the same
operations, order, probabilities, parameter ranges and --aug syntax, drawn
from numpy's generator (so a view is not sample-identical to the C
trainer's for the same seed; its distribution is the same). Each building
block given the same parameters computes what its C twin computes
(tests/python/test_pyclar_augment.py compares them through the trainer's
shared library). Order per view: pitch shift by linear resampling, random
crop/time shift, time stretch (WSOLA, pitch kept), formant shift (off by
default), random EQ (RBJ biquads), generated reverberation, another clip
mixed in as background, telephone channel (300-3400 Hz, 8 kHz, mu-law),
gain, fades, time mask, coloured noise at a random SNR, clip to +-4; then,
on the log-mel, SpecAugment frequency masks (spec_masks, apply_fmask).

Not here: codec round trips (codec=P, off by default in clar-train too)
need libopus, libvorbis and libgsm; parse() refuses codec=P with P > 0."""
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
    p_eq: float = 0.5
    eq_db: float = 10.0
    p_phone: float = 0.15
    p_reverb: float = 0.3
    rt60_max: float = 1.0
    p_mix: float = 0.3
    mix_snr_min_db: float = 3.0
    mix_snr_max_db: float = 20.0
    p_fmask: float = 0.3
    fmask_max: float = 8.0
    p_codec: float = 0.0
    codec_kbps_min: float = 6.0
    codec_kbps_max: float = 24.0
    p_formant: float = 0.0
    formant_max: float = 1.25
    p_mixup: float = 0.0
    mixup_alpha: float = 0.4
    p_fmix: float = 0.0
    fmix_alpha: float = 0.3

    @classmethod
    def none(cls):
        return cls(**{f.name: 0.0 for f in fields(cls)})

    def parse(self, spec):
        """clar_augment_parse: "pitch=P:S,noise=P:MIN:MAX,fade=P:MAX,
        mask=P:MAX,gain=P:DB,stretch=P:S,eq=P:DB,phone=P,reverb=P:RT60,
        mix=P:MIN:MAX,fmask=P:BANDS,codec=P:KMIN:KMAX,formant=P:RATIO,
        mixup=P:ALPHA,fmix=P:ALPHA" over the current values, with its checks
        (P in [0, 1]; RT60 >= 0.1; KMIN in [6, KMAX], KMAX <= 128; RATIO in
        [1, 2]; ALPHA in [0.01, 100]; noise and mix take 1 or 3 numbers,
        codec 1 or 3). codec=P with P > 0 is refused: this package has no
        Opus/Vorbis/GSM codec (clar-train does); so are mixup=P, a
        batch-level draw with a soft cross-entropy target, and fmix=P
        (Freq-MixStyle), a batch-level mix of band statistics, with P > 0:
        only clar-train makes them."""
        keys = {"pitch": ("p_pitch", "pitch_semitones"),
                "noise": ("p_noise", "snr_min_db", "snr_max_db"),
                "fade": ("p_fade", "fade_max"), "mask": ("p_mask", "mask_max"),
                "stretch": ("p_stretch", "stretch_max"), "gain": ("p_gain", "gain_db"),
                "eq": ("p_eq", "eq_db"), "phone": ("p_phone",),
                "reverb": ("p_reverb", "rt60_max"),
                "mix": ("p_mix", "mix_snr_min_db", "mix_snr_max_db"),
                "fmask": ("p_fmask", "fmask_max"),
                "codec": ("p_codec", "codec_kbps_min", "codec_kbps_max"),
                "formant": ("p_formant", "formant_max"),
                "mixup": ("p_mixup", "mixup_alpha"),
                "fmix": ("p_fmix", "fmix_alpha")}
        for tok in filter(None, (spec or "").split(",")):
            k, eq, v = tok.partition("=")
            try:
                vals = [float(x) for x in v.split(":")] if eq else []
            except ValueError:
                vals = []
            if not all(np.isfinite(vals)):
                vals = []
            if k not in keys or not vals or len(vals) > len(keys[k]) or not 0 <= vals[0] <= 1 \
                    or (k in ("noise", "mix", "codec") and len(vals) == 2) \
                    or (k == "reverb" and len(vals) > 1 and not vals[1] >= 0.1) \
                    or (k == "codec" and len(vals) > 2
                        and not (6 <= vals[1] <= vals[2] <= 128)) \
                    or (k == "formant" and len(vals) > 1 and not 1 <= vals[1] <= 2) \
                    or (k in ("mixup", "fmix") and len(vals) > 1 and not 0.01 <= vals[1] <= 100):
                raise ValueError(f"bad augmentation spec {tok!r}")
            if k == "codec" and vals[0] > 0:
                raise ValueError(f"{tok!r}: codec round trips (Opus, Vorbis, GSM 06.10) are "
                                 "clar-train only (they need libopus, libvorbis, libgsm); "
                                 "use codec=0 or train with clar-train")
            if k == "mixup" and vals[0] > 0:
                raise ValueError(f"{tok!r}: mixup is clar-train only (a batch-level mix with "
                                 "a soft cross-entropy target); use mixup=0 or train with "
                                 "clar-train")
            if k == "fmix" and vals[0] > 0:
                raise ValueError(f"{tok!r}: Freq-MixStyle is clar-train only (a batch-level "
                                 "mix of band statistics); use fmix=0 or train with clar-train")
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


# ---- Source colouring, room, background, channel (clar_augment_view_bg) ----

LOWPASS, HIGHPASS, PEAK = 0, 1, 2      # clar_biquad_kind


def biquad_coeffs(kind, f0, q, gain_db=0.0, sr=16000.0):
    """(b0, b1, b2, a1, a2) normalised by a0: R. Bristow-Johnson, "Cookbook
    formulae for audio EQ biquad filter coefficients" (as clar_biquad);
    None where clar_biquad leaves the signal alone (f0 outside (0, sr/2),
    q <= 0)."""
    if not (0 < f0 < sr / 2 and q > 0):
        return None
    w0 = 2 * np.pi * f0 / sr
    cw, alpha = np.cos(w0), np.sin(w0) / (2 * q)
    if kind == LOWPASS:
        b = ((1 - cw) / 2, 1 - cw, (1 - cw) / 2)
        a = (1 + alpha, -2 * cw, 1 - alpha)
    elif kind == HIGHPASS:
        b = ((1 + cw) / 2, -(1 + cw), (1 + cw) / 2)
        a = (1 + alpha, -2 * cw, 1 - alpha)
    else:
        A = 10 ** (gain_db / 40)
        b = (1 + alpha * A, -2 * cw, 1 - alpha * A)
        a = (1 + alpha / A, -2 * cw, 1 - alpha / A)
    return (b[0] / a[0], b[1] / a[0], b[2] / a[0], a[1] / a[0], a[2] / a[0])


def _lfilter(x, b, a):
    """Direct-form recursion in float64 (torchaudio's lfilter loop is C++)."""
    import torch
    import torchaudio.functional as AF
    return AF.lfilter(torch.from_numpy(np.asarray(x, np.float64)),
                      torch.tensor(a, dtype=torch.float64),
                      torch.tensor(b, dtype=torch.float64), clamp=False).numpy()


def biquad(x, kind, f0, q, gain_db=0.0, sr=16000.0):
    """One RBJ biquad over x (clar_biquad: zero initial state, float64
    recursion, float32 result); x unchanged for invalid parameters."""
    c = biquad_coeffs(kind, f0, q, gain_db, sr)
    if c is None or len(x) == 0:
        return np.asarray(x, np.float32)
    return _lfilter(x, c[:3], (1.0, c[3], c[4])).astype(np.float32)


def random_eq(x, eq_db, rng):
    """1-3 random biquads as clar_augment_view_bg draws them: a low-pass
    at 1500-6000 Hz (p 0.2, a dull source), a high-pass at 60-480 Hz
    (p 0.2, a thin one) or a peak at 100-6000 Hz, Q 0.5-3, within
    +-eq_db (p 0.6, resonances); log-uniform frequencies."""
    for _ in range(1 + int(rng.integers(3))):
        u = rng.random()
        if u < 0.2:
            x = biquad(x, LOWPASS, 1500.0 * 4.0 ** rng.random(), 0.7071)
        elif u < 0.4:
            x = biquad(x, HIGHPASS, 60.0 * 8.0 ** rng.random(), 0.7071)
        else:
            f0 = 100.0 * 60.0 ** rng.random()
            q = 0.5 + 2.5 * rng.random()
            x = biquad(x, PEAK, f0, q, (2 * rng.random() - 1) * eq_db)
    return x


def mulaw_roundtrip(x):
    """G.711 mu-law (mu = 255) companding quantised to a sign and 7 bits
    and expanded back (clar_mulaw_roundtrip); |x| > 1 saturates."""
    mu = 255.0
    x = np.asarray(x, np.float32)
    a = np.minimum(np.abs(x).astype(np.float64), 1.0)
    q = np.floor(np.log1p(mu * a) / np.log1p(mu) * 127.0 + 0.5) / 127.0
    back = ((1.0 + mu) ** q - 1.0) / mu
    return np.where(x < 0, -back, back).astype(np.float32)


def telephone(x, level):
    """clar_telephone at 16 kHz: 300-3400 Hz band (two cascades of RBJ
    high-pass and low-pass, Q 0.7071), every second sample kept (8 kHz),
    peak normalised to `level`, mu-law round trip, back to 16 kHz by
    linear interpolation and a 3600 Hz low-pass."""
    x = np.asarray(x, np.float32)
    n = len(x)
    m = n // 2
    if m < 2:
        return x.copy()
    for _ in range(2):
        x = biquad(x, HIGHPASS, 300.0, 0.7071)
        x = biquad(x, LOWPASS, 3400.0, 0.7071)
    y = x[0:2 * m:2].copy()
    peak = float(np.abs(y).max())
    if peak > 0:
        g = np.float32(level / peak)
        y = mulaw_roundtrip(y * g) / g
    out = np.empty(n, np.float32)
    out[0:2 * m:2] = y
    out[1:2 * m - 1:2] = np.float32(0.5) * (y[:-1] + y[1:])
    out[2 * m - 1] = y[m - 1]
    if n % 2:
        out[n - 1] = y[m - 1]
    return biquad(out, LOWPASS, 3600.0, 0.7071)


def _comb(inp, d, g, damp):
    """Freeverb's comb with damped feedback, as clar_reverb runs it:
    out[i] = v[i-d], lp[i] = (1-damp) out[i] + damp lp[i-1],
    v[i] = in[i] + g lp[i]. The delay d is at least as long as a block of
    d samples, so each block's output is the previous block's v; the
    one-pole (damp <= 0.5) is its impulse response truncated where
    damp^k < 1e-19, an FIR of 64 taps."""
    n = len(inp)
    h = (1 - damp) * damp ** np.arange(64)
    v = np.zeros(n)
    out = np.zeros(n)
    v[:d] = inp[:d]                     # lp is 0 until the first echo
    for s in range(d, n, d):
        e = min(s + d, n)
        out[s:e] = v[s - d:e - d]
        lo = max(0, s - 63)
        lp = np.convolve(out[lo:e], h)[s - lo:e - lo]
        v[s:e] = inp[s:e] + g * lp
    return out


def _allpass(inp, d):
    """Freeverb's allpass as clar_reverb runs it: v[i] = in[i] + 0.5 v[i-d],
    out[i] = v[i-d] - in[i]."""
    n = len(inp)
    v = np.zeros(n)
    for s in range(0, n, d):
        e = min(s + d, n)
        v[s:e] = inp[s:e] + (0.5 * v[s - d:e - d] if s >= d else 0.0)
    out = -inp.copy()
    out[d:] += v[:n - d]
    return out


_COMB_D, _AP_D = (1557, 1617, 1491, 1422), (556, 225)


def reverb(x, rt60, wet, rng):
    """clar_reverb at 16 kHz: x plus `wet` times a generated room (room
    size 0.7-1.3 and damping 0.2-0.5 drawn, then 12 early reflections
    5-60 ms late with random signs, decaying as the tail; four damped
    feedback combs and two allpasses with Freeverb's delays scaled to
    16 kHz and the room, comb feedback 10^(-3 d / (rt60 sr)) for a 60 dB
    decay in rt60, Schroeder 1962), then scaled back to the dry energy."""
    x = np.asarray(x, np.float32)
    n = len(x)
    sr = 16000.0
    scale = sr / 44100.0
    room = 0.7 + 0.6 * rng.random()
    damp = 0.2 + 0.3 * rng.random()
    if n == 0 or not rt60 > 0:
        return x.copy()
    wetbuf = np.zeros(n)
    xd = x.astype(np.float64)
    for _ in range(12):
        d = int((0.005 + 0.055 * rng.random()) * sr)
        gain = (-0.6 if rng.random() < 0.5 else 0.6) * 10 ** (-3.0 * d / (rt60 * sr))
        if d < n:
            wetbuf[d:] += gain * xd[:n - d]
    inp = xd * 0.25
    acc = np.zeros(n)
    for cd in _COMB_D:
        d = max(1, int(cd * scale * room))
        acc += _comb(inp, d, 10 ** (-3.0 * d / (rt60 * sr)), damp)
    for ad in _AP_D:
        acc = _allpass(acc, max(1, int(ad * scale * room)))
    wetbuf += acc
    y = (xd + wet * wetbuf.astype(np.float32)).astype(np.float32)
    e_in = float(np.sum(xd * xd))
    e_out = float(np.sum(y.astype(np.float64) ** 2))
    if e_in > 0 and e_out > 0:
        y *= np.float32(np.sqrt(e_in / e_out))
    return y


def mix_at_snr(x, bg, snr_db):
    """x + bg scaled so that power(x) / power(bg) is snr_db; x unchanged
    when bg is silent or x is (clar_mix_at_snr)."""
    x = np.asarray(x, np.float32)
    bg = np.asarray(bg, np.float64)
    ps = float(np.sum(x.astype(np.float64) ** 2))
    pb = float(np.sum(bg * bg))
    if pb <= 1e-12 * len(x) or ps <= 0:
        return x.copy()
    g = np.sqrt(ps / (pb * 10 ** (snr_db / 10)))
    return (x + g * bg).astype(np.float32)


_FS_N, _FS_HOP, _FS_LIFTER = 512, 128, 24


def formant_shift(x, ratio):
    """clar_formant_shift at 16 kHz: STFT (512-sample Hann frames, hop
    128, frames from 384 samples before the clip); each frame's envelope is
    its cepstrally smoothed log magnitude (quefrency bins below 24,
    Oppenheim & Schafer sec. 13.9) and the frame is multiplied by
    E(f / ratio) / E(f) limited to +-24 dB (Roebel & Rodet, DAFx 2005);
    weighted overlap-add, the input's energy restored. x unchanged for a
    ratio outside [0.5, 2], non-finite or silent input."""
    x = np.asarray(x, np.float32)
    n = len(x)
    if not 0.5 <= ratio <= 2.0 or n == 0 or not np.all(np.isfinite(x)):
        return x.copy()
    xd = x.astype(np.float64)
    e_in = float(np.sum(xd * xd))
    if e_in == 0:
        return x.copy()
    N, H, K = _FS_N, _FS_HOP, _FS_N // 2 + 1
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N) / N)
    J = -(-(n + N - H) // H)                    # frames f0 = -(N-H) + j H < n
    xp = np.concatenate([np.zeros(N - H), xd, np.zeros(N)])
    idx = np.arange(J)[:, None] * H + np.arange(N)[None, :]
    spec = np.fft.rfft(xp[idx] * win, axis=1)
    lg = 0.5 * np.log(spec.real ** 2 + spec.imag ** 2 + 1e-20)
    cep = np.fft.irfft(lg, N, axis=1)
    q = np.arange(N)
    cep[:, ~((q < _FS_LIFTER) | (q > N - _FS_LIFTER))] = 0.0
    env = np.fft.rfft(cep, axis=1).real
    src = np.minimum(np.arange(K) / ratio, K - 1)
    k0 = src.astype(np.int64)
    k1 = np.minimum(k0 + 1, K - 1)
    warped = np.where(k0 + 1 < K, env[:, k0] + (src - k0) * (env[:, k1] - env[:, k0]),
                      env[:, K - 1:K])
    spec *= np.exp(np.clip(warped - env, -2.763, 2.763))
    fr = np.fft.irfft(spec, N, axis=1) * win
    # Overlap-add: frame j covers hops j .. j+3 of xp.
    acc = np.zeros((J + 3, H))
    wsum = np.zeros((J + 3, H))
    fr = fr.reshape(J, N // H, H)
    w2 = (win * win).reshape(N // H, H)
    for p in range(N // H):
        acc[p:p + J] += fr[:, p]
        wsum[p:p + J] += w2[p]
    y = acc.reshape(-1)[N - H:N - H + n] / wsum.reshape(-1)[N - H:N - H + n]
    e_out = float(np.sum(y * y))
    return (np.sqrt(e_in / e_out) * y if e_out > 0 else 0 * y).astype(np.float32)


# ---- SpecAugment on the log-mel (clar_augment_spec) ----

def spec_masks(cfg, rng, n_mels):
    """The frequency masks of one view: [(first mel, width)] of 0-2 bands
    of up to fmask_max mels, drawn as clar_augment_spec draws them (with
    probability p_fmask, one or two bands)."""
    if not cfg.p_fmask > 0 or rng.random() >= cfg.p_fmask or n_mels == 0:
        return []
    bands = []
    for _ in range(1 + int(rng.integers(2))):
        w = int(rng.random() * (cfg.fmask_max + 1))
        if w == 0:
            continue
        w = min(w, n_mels)
        bands.append((int(rng.random() * (n_mels - w + 1)), w))
    return bands


def mask_array(masks, n_views):
    """[n_views, 2, 2] int64 (first mel, width; width 0 = no band) of the
    views' spec_masks lists, for apply_fmask."""
    a = np.zeros((n_views, 2, 2), np.int64)
    for v, bands in enumerate(masks):
        for j, (f0, w) in enumerate(bands):
            a[v, j] = (f0, w)
    return a


def apply_fmask(mels, masks):
    """Sets each view's masked mel bands to that view's mean log-mel value
    (taken before masking), in place: mels [N, n_mels, T] (torch),
    masks [N, 2, 2] from mask_array."""
    import torch
    if mels.shape[0] == 0 or not bool((masks[..., 1] > 0).any()):
        return mels
    mean = mels.mean(dim=(1, 2), keepdim=True)
    f = torch.arange(mels.shape[1], device=mels.device)[None, :, None]
    m = masks.to(mels.device)
    sel = torch.zeros(mels.shape[0], mels.shape[1], 1, dtype=torch.bool, device=mels.device)
    for j in range(m.shape[1]):
        f0, w = m[:, j, 0][:, None, None], m[:, j, 1][:, None, None]
        sel |= (f >= f0) & (f < f0 + w)
    return mels.copy_(torch.where(sel, mean, mels))



def augment_view(cfg, rng, clip, length, bg=None):
    """One view of `length` samples from clip, with another clip bg that
    may be mixed in as background (clar_augment_view_bg; bg None: never).
    Each step draws from rng only when its probability is > 0."""
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
    # Source colouring, room, background, then the channel: the order in
    # which a recording picks them up.
    if cfg.p_formant > 0 and rng.random() < cfg.p_formant:
        m = cfg.formant_max if cfg.formant_max > 1 else 1.0
        out = formant_shift(out, np.exp((2 * rng.random() - 1) * np.log(m)))
    if cfg.p_eq > 0 and rng.random() < cfg.p_eq:
        out = random_eq(out, cfg.eq_db, rng)
    if cfg.p_reverb > 0 and rng.random() < cfg.p_reverb:
        rt = 0.1 + rng.random() * (cfg.rt60_max - 0.1)
        out = reverb(out, rt, 0.3 + 0.7 * rng.random(), rng)
    if bg is not None and len(bg) and cfg.p_mix > 0 and rng.random() < cfg.p_mix:
        nbg = len(bg)
        snr = cfg.mix_snr_min_db + rng.random() * (cfg.mix_snr_max_db - cfg.mix_snr_min_db)
        st = rng.random() * (nbg - length) if nbg > length else -rng.random() * (length - nbg)
        b = resample_linear(np.asarray(bg, np.float32), 1.0, np.floor(st), length)
        out = mix_at_snr(out, b, snr)
    if cfg.p_phone > 0 and rng.random() < cfg.p_phone:
        out = telephone(out, 0.3 + 0.65 * rng.random())
    if cfg.p_codec > 0:
        raise ValueError("codec round trips are clar-train only (see AugmentConfig.parse)")
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
