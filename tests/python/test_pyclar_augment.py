# SPDX-License-Identifier: LGPL-2.1-or-later
"""clar.augment's source, room and channel augmentations against
src/train/augment.c through the trainer's shared library:

- the --aug parser and the defaults equal clar_augment_parse /
  clar_augment_default (same keys, values and refusals; codec=P > 0 is
  refused with a message naming clar-train);
- RBJ biquads (low-pass, high-pass, peak), the mu-law round trip, the
  telephone channel, background mixing and the formant shift equal their C
  twins for the same parameters; the generated reverb and the SpecAugment
  masks too when both draw from the same splitmix64 stream;
- statistics a user relies on: the telephone keeps 1 kHz and removes
  100 Hz and 6 kHz; the reverb's impulse response decays about 60 dB per
  RT60; mixing gives the requested SNR;
- each new step keeps the length, is deterministic for a seed, and leaves
  silence silent (no NaN)."""
import ctypes
from dataclasses import fields

from clar_ctypes import fptr, load_train_lib
from clar_testutil import Checks, imports_or_skip

with imports_or_skip(pyclar=True):
    import numpy as np
    import torch
    import torchaudio  # noqa: F401  (clar.augment's recursive filters)
    from clar import augment as A

torch.set_num_threads(1)
check = Checks()


class Rng(ctypes.Structure):
    _fields_ = [("s", ctypes.c_uint64)]


class Cfg(ctypes.Structure):
    # clar_augment_config: the dataclass's fields are its members, in order.
    _fields_ = [(f.name, ctypes.c_float) for f in fields(A.AugmentConfig)]


class SplitMix:
    """clar_rng (splitmix64) with the two numpy Generator calls clar.augment
    makes, so that a Python step draws what its C twin draws."""
    M = (1 << 64) - 1

    def __init__(self, seed):
        self.s = seed & self.M

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & self.M
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.M
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.M
        return z ^ (z >> 31)

    def random(self):
        return (self.next() >> 11) * (1.0 / 9007199254740992.0)

    def integers(self, k):
        return self.next() % k


lib = load_train_lib()
P = ctypes.POINTER
f32p = P(ctypes.c_float)
sz = ctypes.c_size_t
dbl = ctypes.c_double
lib.clar_augment_default.restype = Cfg
lib.clar_augment_parse.argtypes = [ctypes.c_char_p, P(Cfg)]
lib.clar_biquad.argtypes = [f32p, sz, ctypes.c_int, dbl, dbl, dbl, dbl]
lib.clar_mulaw_roundtrip.restype = ctypes.c_float
lib.clar_mulaw_roundtrip.argtypes = [ctypes.c_float]
lib.clar_telephone.argtypes = [f32p, sz, dbl]
lib.clar_reverb.argtypes = [f32p, sz, dbl, dbl, P(Rng)]
lib.clar_mix_at_snr.argtypes = [f32p, f32p, sz, dbl]
lib.clar_formant_shift.argtypes = [f32p, sz, dbl]
lib.clar_augment_spec.argtypes = [P(Cfg), P(Rng), f32p, sz, sz]

rng = np.random.default_rng(11)
t = np.arange(16000) / 16000.0
x = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 1300 * t)
     + 0.05 * rng.standard_normal(16000)).astype(np.float32)
x[4000:6000] *= 3


def c_vs_py(c_step, py_step, cases):
    """Max |C - Python| of a step run in place by C (samples, n, parameter)
    and by Python (samples, parameter) on x resized to n, over (n, parameter)
    cases."""
    worst = 0.0
    for n, arg in cases:
        c = np.resize(x, n).astype(np.float32)
        c_step(fptr(c), n, arg)
        worst = max(worst, float(np.abs(c - py_step(np.resize(x, n), arg)).max()))
    return worst


# ---- Parser and defaults ----
dc = lib.clar_augment_default()
py = A.AugmentConfig()
bad = [f.name for f in fields(A.AugmentConfig) if abs(getattr(dc, f.name) - getattr(py, f.name)) > 1e-6]
check(f"AugmentConfig() equals clar_augment_default() on all {len(fields(py))} fields {bad}", not bad)
specs = ["eq=0.7:6,phone=0.2,reverb=0.5:0.8,mix=0.4:0:10,fmask=0.5:12,formant=0.3:1.5",
         "codec=0", "codec=0:8:16", "reverb=0.5", "mix=1", "pitch=0:3,noise=1:0:5",
         "phone=0.5:3", "reverb=0.5:0.05", "mix=0.5:3", "codec=0:4:16", "codec=0:8",
         "formant=0.5:2.5", "fmask=1.5", "eq=", "wow=0.5", "eq=0.5:x",
         "mixup=0", "mixup=0:2", "mixup=0:0.001", "mixup=0:1:1",
         "fmix=0", "fmix=0:0.5", "fmix=0:0.001", "fmix=0:1:1", "fmix=1.5"]
agree = 0
for spec in specs:
    c = lib.clar_augment_default()
    crc = lib.clar_augment_parse(spec.encode(), ctypes.byref(c))
    try:
        p = A.AugmentConfig().parse(spec)
        prc = 0
    except ValueError:
        prc = -1
    same = crc == prc and (crc != 0 or all(abs(getattr(c, f.name) - getattr(p, f.name)) < 1e-6
                                           for f in fields(p)))
    if not same:
        print(f"  spec {spec!r}: C rc {crc}, Python rc {prc}")
    agree += same
check(f"--aug specs parse (or are refused) as clar_augment_parse does "
      f"({agree}/{len(specs)})", agree == len(specs))
try:
    A.AugmentConfig().parse("codec=0.5")
    check("codec=0.5 is refused", False)
except ValueError as e:
    check(f"codec=0.5 is refused: {e}", "clar-train" in str(e))
try:
    A.AugmentConfig().parse("mixup=0.5")
    check("mixup=0.5 is refused", False)
except ValueError as e:
    check(f"mixup=0.5 is refused: {e}", "clar-train" in str(e))
try:
    A.AugmentConfig().parse("fmix=0.5")
    check("fmix=0.5 is refused", False)
except ValueError as e:
    check(f"fmix=0.5 is refused: {e}", "clar-train" in str(e))

# ---- Biquads ----
worst = 0.0
for kind, f0, q, g in ((A.LOWPASS, 1500, 0.7071, 0), (A.LOWPASS, 6000, 0.7071, 0),
                       (A.HIGHPASS, 60, 0.7071, 0), (A.HIGHPASS, 480, 0.7071, 0),
                       (A.PEAK, 100, 0.5, 10), (A.PEAK, 3000, 3.0, -10), (A.PEAK, 900, 1.2, 4)):
    c = x.copy()
    lib.clar_biquad(fptr(c), len(c), kind, f0, q, g, 16000.0)
    worst = max(worst, float(np.abs(c - A.biquad(x, kind, f0, q, g)).max()))
# Coefficients, read off the impulse response: h0 = b0, h1 = b1 - a1 b0,
# h2 = b2 - a1 h1 - a2 b0.
imp = np.zeros(64, np.float32)
imp[0] = 1
lib.clar_biquad(fptr(imp), 64, A.PEAK, 2000.0, 1.5, 6.0, 16000.0)
b0, b1, b2, a1, a2 = A.biquad_coeffs(A.PEAK, 2000.0, 1.5, 6.0)
hc = (b0, b1 - a1 * b0, b2 - a1 * (b1 - a1 * b0) - a2 * b0)
cd = max(abs(float(imp[i]) - hc[i]) for i in range(3))
check(f"RBJ biquads equal clar_biquad (max diff {worst:.2g}; "
      f"peak coefficients {cd:.2g})", worst < 1e-5 and cd < 1e-6)
same = np.array_equal(A.biquad(x, A.LOWPASS, 9000, 0.7, 0), x)
check("a biquad above Nyquist leaves the signal alone, as in C", same)

# ---- mu-law, telephone ----
grid = np.linspace(-1.2, 1.2, 4801).astype(np.float32)
cm = np.array([lib.clar_mulaw_roundtrip(float(v)) for v in grid], np.float32)
check("mu-law round trip equals clar_mulaw_roundtrip "
      "on 4801 values in [-1.2, 1.2]", np.array_equal(cm, A.mulaw_roundtrip(grid)))
worst = c_vs_py(lib.clar_telephone, A.telephone,
                ((16000, 0.5), (16001, 0.95), (3, 0.3), (5, 0.3)))
check(f"telephone channel equals clar_telephone (max diff {worst:.2g})", worst < 1e-4)


def tone_gain(f):
    s = (0.5 * np.sin(2 * np.pi * f * t)).astype(np.float32)
    y = A.telephone(s, 0.5)
    return 10 * np.log10(np.mean(y[4000:] ** 2) / np.mean(s[4000:] ** 2))


gains = {f: tone_gain(f) for f in (100, 1000, 6000)}
check("telephone band: 1 kHz kept, 100 Hz and 6 kHz removed (" +
      ", ".join(f"{f} Hz {g:+.1f} dB" for f, g in gains.items()) + ")",
      abs(gains[1000]) < 1.5 and gains[100] < -20 and gains[6000] < -20)

# ---- Reverb ----
worst = 0.0
for seed, rt, wet in ((1, 0.3, 0.5), (2, 1.0, 1.0), (3, 0.1, 0.3)):
    c = x.copy()
    r = Rng(seed)
    lib.clar_reverb(fptr(c), len(c), rt, wet, ctypes.byref(r))
    sm = SplitMix(seed)
    p = A.reverb(x, rt, wet, sm)
    worst = max(worst, float(np.abs(c - p).max()) / float(np.abs(c).max()))
    worst = max(worst, 0.0 if sm.s == r.s else 1.0)
check(f"reverb equals clar_reverb for the same random stream "
      f"(max diff {worst:.2g} of peak)", worst < 1e-4)
imp = np.zeros(32000, np.float32)
imp[0] = 1
rt = 0.5
h = A.reverb(imp, rt, 1.0, np.random.default_rng(4))[1:].astype(np.float64)
edc = np.cumsum((h ** 2)[::-1])[::-1]                # Schroeder integration
edc_db = 10 * np.log10(edc / edc[0])
i5, i25 = int(np.argmax(edc_db < -5)), int(np.argmax(edc_db < -25))
t60 = 3 * (i25 - i5) / 16000
check(f"reverb's impulse response decays 60 dB in {t60:.2f} s "
      f"(T20 from the energy decay curve; RT60 {rt} s)", 0.6 * rt < t60 < 1.4 * rt)

# ---- Mix ----
bg = rng.standard_normal(16000).astype(np.float32)
c = x.copy()
lib.clar_mix_at_snr(fptr(c), fptr(bg), 16000, 7.0)
p = A.mix_at_snr(x, bg, 7.0)
snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean((p - x).astype(np.float64) ** 2))
check(f"mix equals clar_mix_at_snr; SNR {snr:.3f} dB for 7 dB",
      float(np.abs(c - p).max()) < 1e-6 and abs(snr - 7.0) < 0.01)

# ---- Formant ----
worst = c_vs_py(lib.clar_formant_shift, A.formant_shift,
                ((16000, 1.25), (16000, 0.8), (1000, 1.0), (300, 2.0)))
check(f"formant shift equals clar_formant_shift (max diff {worst:.2g})", worst < 1e-4)
check("formant ratio 3 leaves the signal alone", np.array_equal(A.formant_shift(x, 3.0), x))

# ---- SpecAugment masks ----
cfg = A.AugmentConfig().parse("fmask=1:12")
mels = rng.standard_normal((20, 64, 101)).astype(np.float32)
cm = mels.copy()
masks = []
for v in range(20):
    r = Rng(100 + v)
    lib.clar_augment_spec(ctypes.byref(Cfg(**{f.name: getattr(cfg, f.name) for f in fields(cfg)})),
                          ctypes.byref(r), fptr(cm[v]), 101, 64)
    masks.append(A.spec_masks(cfg, SplitMix(100 + v), 64))
pm = A.apply_fmask(torch.from_numpy(mels.copy()), torch.from_numpy(A.mask_array(masks, 20))).numpy()
n_masked = sum(len(m) for m in masks)
check(f"frequency masks equal clar_augment_spec for the same random stream ({n_masked} bands "
      f"on 20 mels)",
      float(np.abs(cm - pm).max()) < 1e-5 and n_masked > 10)

# ---- Every step on: length, determinism, silence ----
allon = A.AugmentConfig.none().parse("eq=1:10,phone=1,reverb=1:1,mix=1:3:20,formant=1:1.25")
ok = True
for n in (16000, 7000, 40000):
    clip = np.resize(x, n)
    a = A.augment_view(allon, np.random.default_rng(5), clip, 16000, bg=bg)
    b = A.augment_view(allon, np.random.default_rng(5), clip, 16000, bg=bg)
    ok &= a.shape == (16000,) and a.dtype == np.float32 and np.array_equal(a, b)
    ok &= bool(np.all(np.isfinite(a))) and not np.array_equal(a, A.augment_view(
        A.AugmentConfig.none(), np.random.default_rng(5), clip, 16000))
check("eq, reverb, mix, phone and formant on: 16000 samples, the same for a seed, changed", ok)
z = np.zeros(16000, np.float32)
outs = [A.augment_view(allon, np.random.default_rng(s), z, 16000, bg=z) for s in range(3)]
outs += [A.random_eq(z, 10, np.random.default_rng(1)), A.telephone(z, 0.5),
         A.reverb(z, 1.0, 1.0, np.random.default_rng(1)), A.mix_at_snr(z, bg, 5),
         A.formant_shift(z, 1.2)]
check("silence stays silent, no NaN", all(o.shape == (16000,) and not np.any(o) for o in outs))
m0 = torch.from_numpy(mels[:2].copy())
check("no masks: the mels are unchanged",
      torch.equal(A.apply_fmask(m0.clone(), torch.zeros(2, 2, 2, dtype=torch.int64)), m0))

check.exit(summary=False)
