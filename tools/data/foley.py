# SPDX-License-Identifier: LGPL-2.1-or-later
"""Procedural sound effects: the data builder's `foley` set.

Why: the effect classes are starved of sources. Each has 7-86 training
clips, mostly from two to four game packages, and every leg trained on
them loses effects head on `val`'s held-out packages (models/README.md):
the rows learn the packages' recording chains. A generator is a source no
package shares, with its parameters drawn wide, so the class has to be
what is common to rain from a package and rain from a model of rain.

The models follow the physical descriptions of procedural sound design
(A. Farnell, "Designing Sound", MIT Press 2010: rain and water as
populations of bubbles and clicks, fire as crackle + hiss + roar, wind as
noise through a moving band-pass, creaks as stick-slip pulse trains
exciting a few modes, impacts as decaying modal sums), written from those
descriptions with numpy alone. Classes without a credible physical model
here (the animals' voices, speech-like cries, weapons) have no generator.

Every function takes a numpy Generator and returns float64 mono samples
at RATE in [-1, 1], peak-normalised to a random level; the same seed gives
the same samples.
"""
import numpy as np

RATE = 16000


# --- building blocks -------------------------------------------------------

def _spectral_shape(x, gain_of_hz):
    """Filters x by a zero-phase magnitude response (a function of the
    frequency in Hz, vectorised) applied to its whole FFT."""
    n = len(x)
    f = np.fft.rfftfreq(n, 1.0 / RATE)
    return np.fft.irfft(np.fft.rfft(x) * gain_of_hz(f), n)


def _band(lo, hi, order=2.0):
    """A smooth band-pass magnitude response (Butterworth-like skirts)."""
    def g(f):
        f = np.maximum(f, 1.0)
        hp = 1.0 / np.sqrt(1.0 + (lo / f) ** (2 * order)) if lo > 0 else 1.0
        lp = 1.0 / np.sqrt(1.0 + (f / hi) ** (2 * order)) if hi < RATE / 2 else 1.0
        return hp * lp
    return g


def _coloured(rng, n, slope):
    """Gaussian noise with power falling as f^-slope (0 white, 1 pink, 2 brown)."""
    return _spectral_shape(rng.standard_normal(n), lambda f: np.maximum(f, 20.0) ** (-slope / 2))


def _smooth_walk(rng, n, rate_hz, lo, hi):
    """A slowly varying control signal in [lo, hi]: random values every
    1/rate_hz seconds, joined by cosine interpolation."""
    k = max(2, int(n / RATE * rate_hz) + 2)
    pts = rng.uniform(lo, hi, k)
    t = np.linspace(0, k - 1, n)
    i = np.minimum(t.astype(int), k - 2)
    w = 0.5 - 0.5 * np.cos(np.pi * (t - i))
    return pts[i] * (1 - w) + pts[i + 1] * w


def _tv_band(x, centre_hz, q):
    """Time-varying band-pass: STFT frames (512, hop 128) each multiplied by
    a Gaussian bump on log-frequency around centre_hz[t] (one value per
    sample; width 1/q octaves), overlap-added with a Hann window."""
    n, w, hop = len(x), 512, 128
    win = np.hanning(w)
    pad = np.concatenate([np.zeros(w), x, np.zeros(w)])
    out = np.zeros_like(pad)
    norm = np.zeros_like(pad)
    f = np.maximum(np.fft.rfftfreq(w, 1.0 / RATE), 1.0)
    for s in range(0, len(pad) - w, hop):
        c = centre_hz[min(max(s - w + w // 2, 0), n - 1)]
        g = np.exp(-0.5 * (np.log2(f / c) * q) ** 2)
        out[s:s + w] += np.fft.irfft(np.fft.rfft(pad[s:s + w] * win) * g, w) * win
        norm[s:s + w] += win ** 2
    return (out / np.maximum(norm, 1e-3))[w:w + n]


def _modes(rng, n, freqs, decays_s, amps):
    """A struck body: a sum of exponentially decaying sinusoids."""
    t = np.arange(n) / RATE
    y = np.zeros(n)
    for f, d, a in zip(freqs, decays_s, amps):
        if f < RATE / 2 - 100:
            y += a * np.exp(-t / d) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return y


def _burst(rng, n, decay_s, lo=0.0, hi=RATE / 2):
    """An impact's noise: white noise under an exponential decay, band-limited."""
    t = np.arange(n) / RATE
    y = rng.standard_normal(n) * np.exp(-t / decay_s)
    return _spectral_shape(y, _band(lo, hi)) if lo > 0 or hi < RATE / 2 else y


def _unit(x):
    """x scaled to unit standard deviation (a layer's level is then set by
    the gain it is mixed with)."""
    return x / (np.std(x) + 1e-9)


def _pulse_train(rng, rate_hz, n, sigma):
    """n samples of impulses, one each time the phase integrated from
    rate_hz (a number or one value per sample) passes a whole cycle, with
    log-normal amplitudes (sigma): a firing engine or a stick-slip creak."""
    ph = np.cumsum(np.broadcast_to(rate_hz, (n,))) / RATE
    pulses = np.zeros(n)
    idx = np.nonzero(np.diff(np.floor(ph), prepend=0) > 0)[0]
    pulses[idx] = rng.lognormal(0, sigma, len(idx))
    return pulses


def _bubble(m, f0, tau, rise, attack_s):
    """A bubble's ping (the rising-frequency bubble of K. van den Doel,
    "Physically based models for liquid sounds", 2005): a sinusoid from f0
    whose frequency rises by `rise` x f0 per decay time tau, decaying with
    tau, with a linear attack so that its onset is no click."""
    t = np.arange(m) / RATE
    return np.sin(2 * np.pi * f0 * (t + rise * t * t / (2 * tau))) * np.exp(-t / tau) * np.minimum(t / attack_s, 1)


def _add(y, ev, at):
    """Adds the event ev into y starting at sample `at` (cut at the end)."""
    if at >= len(y):
        return
    m = min(len(ev), len(y) - at)
    y[at:at + m] += ev[:m]


def _finish(rng, y):
    """Removes DC, fades both ends (5 ms) and normalises the peak to a random
    level between -12 and -1 dBFS."""
    y = y - np.mean(y)
    fade = min(80, len(y) // 4)
    ramp = np.linspace(0, 1, fade)
    y[:fade] *= ramp
    y[-fade:] *= ramp[::-1]
    peak = np.max(np.abs(y))
    if not np.isfinite(peak) or peak <= 0:
        raise ValueError("generator produced silence or non-finite samples")
    return y / peak * 10 ** (rng.uniform(-12, -1) / 20)


def _duration(rng, lo=2.0, hi=4.0):
    return int(rng.uniform(lo, hi) * RATE)


# --- the classes -----------------------------------------------------------

def rain(rng):
    """Drops (clicks and small bubbles, Poisson in time) over a noise bed."""
    n = _duration(rng)
    bed = _coloured(rng, n, rng.uniform(0.3, 1.2))
    bed = _spectral_shape(bed, _band(rng.uniform(150, 800), rng.uniform(3000, 7800)))
    y = _unit(bed) * rng.uniform(0.05, 0.5)
    rate = rng.uniform(60, 700)
    hi = rng.uniform(2500, 7800)  # a roof or leaves soften the drops
    for at in np.sort(rng.integers(0, n, rng.poisson(rate * n / RATE))):
        a = rng.lognormal(0, 0.6) * 0.3
        if rng.random() < 0.6:
            ev = np.diff(_burst(rng, 60, rng.uniform(0.0005, 0.003)), prepend=0.0)
        else:
            f0, tau = rng.uniform(1000, 4500), rng.uniform(0.003, 0.012)
            ev = _bubble(int(RATE * 0.03), f0, tau, 1.0, 0.001)
        _add(y, a * ev, at)
    return _finish(rng, _spectral_shape(y, _band(0, hi)))


def wind(rng):
    """Noise through a band-pass whose centre and level drift (gusts);
    sometimes a whistle (a narrow band) and a low rumble."""
    n = _duration(rng, 2.5, 4.0)
    centre = np.exp(_smooth_walk(rng, n, rng.uniform(0.5, 2.0), np.log(rng.uniform(150, 500)),
                                 np.log(rng.uniform(700, 3000))))
    y = _tv_band(_coloured(rng, n, rng.uniform(0, 1)), centre, rng.uniform(0.4, 1.8))
    if rng.random() < 0.35:
        y += 0.6 * _tv_band(rng.standard_normal(n), centre * rng.uniform(1.5, 3), rng.uniform(8, 20))
    y = _unit(y)
    if rng.random() < 0.5:
        r = _spectral_shape(_coloured(rng, n, 2), _band(0, rng.uniform(80, 200)))
        y += _unit(r) * rng.uniform(0.2, 0.8)
    return _finish(rng, y * _smooth_walk(rng, n, rng.uniform(0.3, 1.2), 0.15, 1.0))


def thunder(rng):
    """A crack (near) and a long low rumble of overlapping swells."""
    n = _duration(rng, 3.0, 4.0)
    t = np.arange(n) / RATE
    y = np.zeros(n)
    start = int(rng.uniform(0, 0.6) * RATE)
    if rng.random() < 0.6:
        _add(y, _burst(rng, int(0.3 * RATE), rng.uniform(0.02, 0.12), 100) * rng.uniform(0.5, 1.5), start)
    rumble = _spectral_shape(_coloured(rng, n, rng.uniform(1.2, 2)), _band(20, rng.uniform(150, 1500), 1.0))
    rumble = _unit(rumble)
    env = np.zeros(n)
    for _ in range(rng.integers(2, 6)):
        on = start / RATE + rng.uniform(0, 1.5)
        rise, decay = rng.uniform(0.05, 0.4), rng.uniform(0.4, 2.0)
        s = t - on
        env += np.where(s < 0, 0, np.minimum(s / rise, 1) * np.exp(-np.maximum(s - rise, 0) / decay)) * rng.uniform(0.3, 1)
    y += rumble * env * _smooth_walk(rng, n, 8, 0.5, 1.0)
    return _finish(rng, y)


def fire(rng):
    """Roar (low noise, slow swell), hiss (high noise) and crackles (sparse
    impulses with heavy-tailed amplitudes)."""
    n = _duration(rng)
    roar = _spectral_shape(_coloured(rng, n, 1.5), _band(30, rng.uniform(200, 900)))
    roar = _unit(roar) * _smooth_walk(rng, n, 2, 0.3, 1.0) * rng.uniform(0.1, 0.8)
    hiss = _spectral_shape(rng.standard_normal(n), _band(rng.uniform(1500, 4000), 7800))
    y = roar + _unit(hiss) * rng.uniform(0.02, 0.25)
    lo = rng.uniform(300, 1500)
    for at in np.sort(rng.integers(0, n, rng.poisson(rng.uniform(5, 70) * n / RATE))):
        a = min(rng.pareto(1.5) + 0.2, 6) * 0.4
        ev = _burst(rng, 200, rng.uniform(0.0003, 0.004), lo)
        if rng.random() < 0.15:  # a pop: a small resonant burst
            ev = ev + _modes(rng, 200, [rng.uniform(500, 3000)], [0.004], [0.5])
        _add(y, a * ev, at)
    return _finish(rng, y)


def water_flow(rng):
    """A stream: many bubbles (rising chirps) over a band of noise."""
    n = _duration(rng)
    bed = _spectral_shape(_coloured(rng, n, rng.uniform(0.5, 1.5)), _band(rng.uniform(100, 500), rng.uniform(2000, 6000)))
    y = _unit(bed) * rng.uniform(0.05, 0.6)
    lo, hi = sorted(rng.uniform(200, 2500, 2))
    hi = max(hi, lo * 1.5)
    for at in np.sort(rng.integers(0, n, rng.poisson(rng.uniform(40, 400) * n / RATE))):
        f0, tau = np.exp(rng.uniform(np.log(lo), np.log(hi))), rng.uniform(0.004, 0.03)
        ev = _bubble(int(RATE * 0.06), f0, tau, rng.uniform(0.5, 3.0), 0.002)
        _add(y, rng.lognormal(0, 0.5) * 0.3 * ev, at)
    return _finish(rng, y * _smooth_walk(rng, n, rng.uniform(1, 4), 0.6, 1.0))


def insects(rng):
    """A buzz (bee, fly, mosquito: a harmonic wingbeat with drift and a flight
    path), a cricket (pulsed chirps of a 3-7 kHz carrier) or a cicada-like
    rasp (high noise gated by a fast pulse train)."""
    n = _duration(rng)
    t = np.arange(n) / RATE
    kind = rng.integers(0, 3)
    if kind == 0:
        f0 = rng.uniform(120, 650) * _smooth_walk(rng, n, rng.uniform(0.5, 3), 0.85, 1.15)
        ph = 2 * np.pi * np.cumsum(f0) / RATE
        slope = rng.uniform(0.7, 1.6)
        y = sum(np.sin(k * ph + rng.uniform(0, 6.3)) / k ** slope for k in range(1, 30) if k * f0.max() < 7800)
        y = y * _smooth_walk(rng, n, rng.uniform(0.3, 1.5), 0.1, 1.0)
        y += 0.05 * rng.standard_normal(n) * rng.uniform(0, 1)
    elif kind == 1:
        fc, prate = rng.uniform(3000, 7000), rng.uniform(20, 60)
        npulse, crate = rng.integers(2, 7), rng.uniform(0.8, 4)
        gate = np.zeros(n)
        plen = int(RATE * rng.uniform(0.006, 0.02))
        win = np.hanning(plen)
        c = rng.uniform(0, 1 / crate)
        while c < n / RATE:
            for p in range(npulse):
                _add(gate, win, int((c + p / prate) * RATE))
            c += 1 / crate * rng.uniform(0.9, 1.1)
        y = np.sin(2 * np.pi * fc * t) * gate + 0.3 * np.sin(4 * np.pi * fc * t) * gate * rng.uniform(0, 1)
        y += 0.01 * rng.standard_normal(n)
    else:
        prate = rng.uniform(80, 450)
        gate = (np.sin(2 * np.pi * prate * t) > rng.uniform(0, 0.8)).astype(float)
        y = _spectral_shape(rng.standard_normal(n), _band(rng.uniform(2500, 5000), rng.uniform(6000, 7900))) * gate
        y *= _smooth_walk(rng, n, rng.uniform(0.2, 1), 0.4, 1.0)
    return _finish(rng, y)


def wild_birds(rng):
    """Phrases of chirps: frequency sweeps (up, down, hooked) of 2-7 kHz with
    a weak second harmonic, sometimes trills; one to three birds."""
    n = _duration(rng)
    y = 0.003 * _coloured(rng, n, 1) * rng.uniform(0, 1)
    for _ in range(rng.integers(1, 4)):
        base, span = rng.uniform(1800, 5500), rng.uniform(-0.5, 0.8)
        at = rng.uniform(0, 0.8)
        while at < n / RATE:
            trill = rng.random() < 0.3
            k = rng.integers(3, 12) if trill else 1
            d = rng.uniform(0.02, 0.06) if trill else rng.uniform(0.04, 0.25)
            for j in range(k):
                m = int(d * RATE)
                u = np.linspace(0, 1, m)
                shape = rng.integers(0, 3)
                curve = u if shape == 0 else 1 - u if shape == 1 else np.sin(np.pi * u)
                f = np.clip(base * (1 + span * curve) * rng.uniform(0.9, 1.1), 800, 7500)
                ph = 2 * np.pi * np.cumsum(f) / RATE
                ev = (np.sin(ph) + rng.uniform(0, 0.3) * np.sin(2 * ph)) * np.hanning(m)
                _add(y, ev * rng.uniform(0.3, 1), int((at + j * d * 1.2) * RATE))
            at += k * d * 1.2 + rng.uniform(0.05, 0.6)
    return _finish(rng, _spectral_shape(y, _band(0, 7800)))


def engine(rng):
    """A combustion engine (a firing pulse train at a drifting or revving
    rate through a short exhaust/body response, plus its harmonics and
    noise) or a turbine (roaring noise and a whine)."""
    n = _duration(rng)
    if rng.random() < 0.75:
        f = rng.uniform(18, 140)
        if rng.random() < 0.4:
            f = f * np.linspace(1, rng.uniform(1.5, 2.5), n) ** (1 if rng.random() < 0.5 else -1)
        else:
            f = f * _smooth_walk(rng, n, 1.5, 0.92, 1.08)
        pulses = _pulse_train(rng, f, n, 0.25)
        ir = _burst(rng, int(0.03 * RATE), rng.uniform(0.002, 0.012), 0, rng.uniform(600, 3000))
        ir += _modes(rng, len(ir), rng.uniform(80, 900, 3), rng.uniform(0.003, 0.02, 3), rng.uniform(0.1, 1, 3))
        y = np.convolve(pulses, ir)[:n]
        y = _unit(y)
        y += _spectral_shape(rng.standard_normal(n), _band(200, 4000)) * rng.uniform(0.02, 0.2)
        y = _spectral_shape(y, _band(0, rng.uniform(700, 4000)))
    else:
        y = _spectral_shape(_coloured(rng, n, rng.uniform(0.5, 1.5)), _band(50, rng.uniform(1500, 7000)))
        y = _unit(y)
        fw = rng.uniform(1500, 7000) * _smooth_walk(rng, n, 1, 0.97, 1.03)
        y += rng.uniform(0.1, 0.8) * np.sin(2 * np.pi * np.cumsum(fw) / RATE)
    return _finish(rng, y)


def footsteps(rng):
    """Steps of a walker or runner: heel then toe impacts per step, on a
    surface drawn per clip (hard floor, wood, gravel or snow)."""
    n = _duration(rng, 2.5, 4.0)
    y = 0.002 * rng.standard_normal(n)
    period = 1 / rng.uniform(1.3, 3.0)
    surface = rng.integers(0, 4)
    hi = rng.uniform(1200, 7000)
    at = rng.uniform(0, 0.4)
    while at < n / RATE:
        for part, amp in ((0, 1.0), (rng.uniform(0.04, 0.15), rng.uniform(0.3, 0.8))):
            m = int(0.25 * RATE)
            if surface == 2 or surface == 3:  # gravel / snow: many small grains
                ev = np.zeros(m)
                for g in rng.integers(0, int(0.09 * RATE), rng.integers(15, 60)):
                    _add(ev, _burst(rng, 100, rng.uniform(0.0003, 0.002)) * rng.uniform(0.2, 1), int(g))
                if surface == 3:
                    ev = _spectral_shape(ev, _band(400, 7000))
            else:
                ev = _burst(rng, m, rng.uniform(0.005, 0.03), 60, hi)
                if surface == 1:
                    ev += _modes(rng, m, rng.uniform(90, 500, 3), rng.uniform(0.01, 0.05, 3), rng.uniform(0.2, 1, 3))
            ev += _modes(rng, m, [rng.uniform(50, 120)], [0.03], [rng.uniform(0.2, 1.0)])
            _add(y, amp * ev, int((at + part) * RATE))
        at += period * rng.uniform(0.92, 1.08)
    return _finish(rng, y)


def door(rng):
    """A door or gate: a latch click, a creak (stick-slip pulses at a wavering
    rate exciting a few modes of the panel and hinge) and often a slam (a
    low thump, a broadband knock, a rattle)."""
    n = _duration(rng, 1.5, 3.5)
    y = np.zeros(n)
    at = int(rng.uniform(0.05, 0.4) * RATE)
    if rng.random() < 0.6:
        _add(y, _burst(rng, 800, rng.uniform(0.001, 0.005), 800) * rng.uniform(0.2, 0.7), at)
        at += int(rng.uniform(0.05, 0.3) * RATE)
    if rng.random() < 0.8:
        m = int(rng.uniform(0.4, 1.6) * RATE)
        rate = rng.uniform(25, 250) * _smooth_walk(rng, m, rng.uniform(2, 8), 0.5, 1.6)
        pulses = _pulse_train(rng, rate, m, 0.3)
        k = rng.integers(2, 5)
        ir = _modes(rng, int(0.05 * RATE), rng.uniform(250, 3000, k), rng.uniform(0.003, 0.03, k), rng.uniform(0.3, 1, k))
        creak = np.convolve(pulses, ir)[:m] * np.sin(np.pi * np.linspace(0, 1, m)) ** 0.5
        _add(y, creak / (np.max(np.abs(creak)) + 1e-9) * rng.uniform(0.3, 1), at)
        at += m
    if rng.random() < 0.7 or not np.any(y):
        m = int(0.6 * RATE)
        slam = _modes(rng, m, rng.uniform(50, 220, 3), rng.uniform(0.04, 0.2, 3), rng.uniform(0.5, 1, 3))
        slam += _burst(rng, m, rng.uniform(0.005, 0.03), 0, rng.uniform(1500, 7000)) * rng.uniform(0.5, 2)
        for _ in range(rng.integers(0, 4)):
            _add(slam, _burst(rng, 600, 0.003, 1000) * rng.uniform(0.1, 0.4), int(rng.uniform(0.02, 0.2) * RATE))
        _add(y, slam, min(at, n - 1))
    return _finish(rng, y)


def hammering(rng):
    """Regular strikes of a hammer on a nail, metal or wood: a click and a
    modal ring per strike."""
    n = _duration(rng)
    y = np.zeros(n)
    period = 1 / rng.uniform(0.9, 3.5)
    metal = rng.random() < 0.5
    f0 = rng.uniform(500, 2500) if metal else rng.uniform(250, 1200)
    ratios = np.array([1, 2.76, 5.40, 8.93]) if metal else np.array([1, 1.6, 2.3])
    dec = rng.uniform(0.05, 0.4) if metal else rng.uniform(0.01, 0.06)
    at = rng.uniform(0, 0.3)
    while at < n / RATE:
        m = int(0.8 * RATE)
        ev = _burst(rng, m, rng.uniform(0.0005, 0.003)) * rng.uniform(0.3, 1)
        ev += _modes(rng, m, f0 * ratios * rng.uniform(0.98, 1.02), dec / np.sqrt(ratios),
                     rng.uniform(0.2, 1, len(ratios)))
        ev += _modes(rng, m, [rng.uniform(60, 150)], [0.03], [rng.uniform(0, 0.5)])
        _add(y, ev * rng.uniform(0.7, 1), int(at * RATE))
        at += period * rng.uniform(0.9, 1.1)
    return _finish(rng, y)


def sawing(rng):
    """A hand saw: push and pull strokes; in each, the teeth's rasp (noise
    gated at a rate that follows the stroke's speed) through the blade's
    band."""
    n = _duration(rng, 2.5, 4.0)
    t = np.arange(n) / RATE
    stroke = rng.uniform(0.35, 1.0)
    speed = np.abs(np.sin(np.pi * t / stroke + rng.uniform(0, np.pi)))
    teeth = rng.uniform(150, 500) * (0.3 + speed)
    gate = (np.sin(2 * np.pi * np.cumsum(teeth) / RATE) > rng.uniform(-0.2, 0.6)).astype(float)
    y = _spectral_shape(rng.standard_normal(n) * gate, _band(rng.uniform(500, 2000), rng.uniform(4000, 7800)))
    y *= speed ** rng.uniform(0.5, 1.5)
    if rng.random() < 0.4:
        y += 0.2 * _modes(rng, n, rng.uniform(2000, 6000, 2), [0.5, 0.5], [0.3, 0.2]) * speed
    return _finish(rng, y)


def wood_chop(rng):
    """An axe into wood: a sharp crack, the log's body modes and a thud;
    sometimes splinters after."""
    n = _duration(rng)
    y = 0.002 * rng.standard_normal(n)
    at = rng.uniform(0.05, 0.6)
    gap = rng.uniform(0.7, 2.0)
    while at < n / RATE - 0.1:
        m = int(0.5 * RATE)
        ev = _burst(rng, m, rng.uniform(0.001, 0.008), 0, rng.uniform(3000, 7800)) * rng.uniform(0.5, 1.5)
        ev += _modes(rng, m, rng.uniform(150, 900, 3), rng.uniform(0.02, 0.12, 3), rng.uniform(0.3, 1, 3))
        ev += _modes(rng, m, [rng.uniform(55, 110)], [rng.uniform(0.04, 0.1)], [rng.uniform(0.3, 1)])
        if rng.random() < 0.4:
            for g in rng.integers(int(0.02 * RATE), int(0.3 * RATE), rng.integers(3, 12)):
                _add(ev, _burst(rng, 200, 0.001) * rng.uniform(0.05, 0.3), int(g))
        _add(y, ev, int(at * RATE))
        at += gap * rng.uniform(0.85, 1.15)
    return _finish(rng, y)


# Class -> (generator, caption noun phrase).
GENERATORS = {
    "door": (door, "a door or gate creaking, latching or slamming"),
    "engine": (engine, "an engine running"),
    "fire": (fire, "a fire burning and crackling"),
    "footsteps": (footsteps, "footsteps"),
    "hammering": (hammering, "hammering"),
    "insects": (insects, "insects buzzing or chirping"),
    "rain": (rain, "rain falling"),
    "sawing": (sawing, "sawing"),
    "thunder": (thunder, "thunder"),
    "water_flow": (water_flow, "flowing water"),
    "wild_birds": (wild_birds, "birds chirping"),
    "wind": (wind, "wind blowing"),
    "wood_chop": (wood_chop, "chopping wood"),
}


def generate(label, seed):
    """The clip number `seed` of class `label` (float64 samples at RATE)."""
    fn, _ = GENERATORS[label]
    return fn(np.random.default_rng([0xF01E, seed, sorted(GENERATORS).index(label)]))


def write_wav(path, y):
    """Writes float samples in [-1, 1] as 16-bit mono PCM at RATE."""
    import wave
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(y, -1, 1) * 32767).round().astype("<i2").tobytes())
