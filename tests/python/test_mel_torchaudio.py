# SPDX-License-Identifier: LGPL-2.1-or-later
"""libclar's log-mel against torchaudio.transforms.MelSpectrogram."""
import ctypes
import sys

from clar_ctypes import Error, MelParams, fptr, load_lib
from clar_testutil import imports_or_skip

with imports_or_skip():  # reference absent: skip cleanly
    import numpy as np
    import torch
    import torchaudio

lib = load_lib()
p = lib.clar_mel_default_params()
err = Error()


def clar_logmel(x, params):
    m = lib.clar_mel_new(ctypes.byref(params), None, ctypes.byref(err))
    assert m, err.message
    T = lib.clar_mel_n_frames(ctypes.byref(params), len(x))
    out = np.zeros((params.n_mels, T), dtype=np.float32)
    rc = lib.clar_mel_compute(m, fptr(x), len(x), fptr(out), T)
    lib.clar_mel_free(m)
    assert rc == 0, rc
    return out


def torch_logmel(x, params):
    t = torchaudio.transforms.MelSpectrogram(
        sample_rate=params.sample_rate, n_fft=params.n_fft, win_length=params.win_length,
        hop_length=params.hop_length, f_min=params.f_min, f_max=params.f_max,
        n_mels=params.n_mels, power=2.0, center=bool(params.center), pad_mode="reflect",
        norm=None, mel_scale="htk")
    with torch.no_grad():
        return torch.log(t(torch.from_numpy(x)) + params.log_offset).numpy()


def truth_logmel(x, params, fb64):
    """float64 log-mel (numpy): the same definition with no float32 step."""
    x = x.astype(np.float64)
    nf, hop, wl = params.n_fft, params.hop_length, params.win_length
    if params.center:
        x = np.pad(x, nf // 2, mode="reflect")
    w = np.zeros(nf)
    left = (nf - wl) // 2
    w[left:left + wl] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(wl) / wl)
    T = 1 + (len(x) - nf) // hop
    frames = np.stack([x[t * hop:t * hop + nf] * w for t in range(T)])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    return np.log(fb64 @ power.T + params.log_offset)


rng = np.random.default_rng(1234)
sr = p.sample_rate
t = np.arange(sr, dtype=np.float64) / sr
signals = {
    "noise_1s": (0.1 * rng.standard_normal(sr)).astype(np.float32),
    "tone_440": (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
    "chirp": (0.3 * np.sin(2 * np.pi * (100 * t + 3000 * t * t))).astype(np.float32),
    "odd_12345": (0.2 * rng.standard_normal(12345)).astype(np.float32),
    "short_300": (0.2 * rng.standard_normal(300)).astype(np.float32),
    "loud_2s": (0.9 * np.clip(rng.standard_normal(2 * sr), -1, 1)).astype(np.float32),
}

failures = 0
worst = 0.0
# Filterbank vs melscale_fbanks.
fb = np.zeros((p.n_mels, p.n_fft // 2 + 1), dtype=np.float32)
lib.clar_mel_filterbank_htk(ctypes.byref(p), fptr(fb))
ref_fb = torchaudio.functional.melscale_fbanks(p.n_fft // 2 + 1, p.f_min, p.f_max, p.n_mels,
                                               p.sample_rate, None, "htk").numpy().T
fb_err = float(np.abs(fb - ref_fb).max())
print(f"filterbank: max abs diff {fb_err:.3g}")
if fb_err > 1e-5:
    failures += 1


def htk_filterbank64(params):
    """torchaudio.functional.melscale_fbanks (htk, norm=None) in float64."""
    n_freqs = params.n_fft // 2 + 1
    all_freqs = np.linspace(0, params.sample_rate // 2, n_freqs)
    m_min, m_max = (2595.0 * np.log10(1.0 + f / 700.0) for f in (params.f_min, params.f_max))
    f_pts = 700.0 * (10 ** (np.linspace(m_min, m_max, params.n_mels + 2) / 2595.0) - 1.0)
    f_diff = np.diff(f_pts)
    slopes = f_pts[None, :] - all_freqs[:, None]
    down, up = -slopes[:, :-2] / f_diff[:-1], slopes[:, 2:] / f_diff[1:]
    return np.maximum(0.0, np.minimum(down, up)).T


fb64 = htk_filterbank64(p)
fb_clar64, fb_torch64 = float(np.abs(fb - fb64).max()), float(np.abs(ref_fb - fb64).max())
print(f"filterbank against float64: libclar {fb_clar64:.3g}, torchaudio {fb_torch64:.3g}")
if fb_clar64 > 1e-6:
    failures += 1

for name, x in signals.items():
    a = clar_logmel(x, p)
    b = torch_logmel(x, p)
    if a.shape != b.shape:
        print(f"{name}: shape {a.shape} != torchaudio {b.shape}")
        failures += 1
        continue
    d = np.abs(a - b)
    # Relative error of the mel power itself (before the log).
    pa, pb = np.exp(a), np.exp(b)
    rel = float((np.abs(pa - pb) / (pb + 1e-3 * pb.max())).max())
    # Bins within a decade of the log floor hold torchaudio's float32 FFT
    # rounding (~1e-9 of the frame's peak power), where ln() magnifies any
    # difference; above the floor both must agree to 1e-3.
    above = pb > 10 * p.log_offset
    d_above = float(d[above].max()) if above.any() else 0.0
    worst = max(worst, d_above)
    print(f"{name}: frames {a.shape[1]}, log-mel max abs diff {d_above:.3g} above the floor, "
          f"{d.max():.3g} everywhere (mean {d.mean():.3g}), power max rel diff {rel:.3g}")
    # Against float64 (same filterbank): libclar's FFT runs in double, so it
    # must stay close to the truth in every band, those near the floor too,
    # where torchaudio's float32 FFT does not.
    ref = truth_logmel(x, p, fb64)
    d_clar, d_torch = float(np.abs(a - ref).max()), float(np.abs(b - ref).max())
    print(f"{name}: against float64, libclar {d_clar:.3g}, torchaudio {d_torch:.3g}")
    if d_above > 1e-3 or d.max() > 2e-3 or d_clar > 1e-5:
        failures += 1

# A second parameter set: no centre padding, other sizes.
q = MelParams(22050, 1024, 1024, 256, 80, 0.0, 11025.0, 1e-5, 0)
x = (0.1 * rng.standard_normal(22050)).astype(np.float32)
a, b = clar_logmel(x, q), torch_logmel(x, q)
d = float(np.abs(a - b).max()) if a.shape == b.shape else float("inf")
d_clar = float(np.abs(a - truth_logmel(x, q, htk_filterbank64(q))).max())
print(f"22.05 kHz, n_fft 1024, no centre: max abs diff {d:.3g}, libclar against float64 {d_clar:.3g}")
worst = max(worst, d)
if d > 1e-3 or d_clar > 1e-5:
    failures += 1

print(f"worst log-mel max abs diff above the floor: {worst:.3g} (limit 1e-3)")
sys.exit(1 if failures else 0)
