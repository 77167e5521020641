#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Synthetic sound-event scenes with a reference annotation (standard library
plus sox; espeak-ng and fluidsynth for --generate).

Each scene is DURATION seconds of background noise (pink by default, Paul
Kellet's filter; or brown/white) at --background-level dBFS RMS, with
K non-overlapping events of known classes at known times: clips of the
training split only, trimmed to where they sound (10 ms frames within
--trim-db of the clip's loudest frame), cut to --max-event seconds, and
scaled to a signal-to-noise ratio drawn from --snr (RMS of the sounding part
over the background's RMS, dB). Events are at least --min-gap apart; classes
are dealt round-robin from a shuffled list so that every class appears about
equally often.

Clip sources:
  --manifest M.tsv   rows `path label split ...` (paths relative to M.tsv);
                     only split == "train" is used. Repeatable.
  --generate DIR     render a small clip set into DIR from the sources the
                     model trained on: 20 spoken words by espeak-ng training
                     voices (build_data.py holds out en-gb-scotland, en-us+f3)
                     and fluidsynth notes of training GM programs
                     (build_data.py's split rule) of five instrument families;
                     --per-class clips of each class, numbered from
                     --first-clip (default 0).
--model FILE keeps only classes that are labels of that model; --exclude
drops background classes (default: silence,noise).

Writes OUT/scene-NNN.wav (16 kHz mono, 16-bit), OUT/reference.tsv (file,
onset, offset, label, snr_db, clip), OUT/scenes.txt (one path per line) and
OUT/stamp.json. Deterministic for a given --seed and clip set: when OUT's
stamp shows the same options and clips, the scenes there are kept.

  make_scenes.py --out DIR (--manifest M.tsv ... | --generate CLIPDIR)
                 [--scenes 20] [--duration 20] [--events 3:5] [--snr 0,10,20]
"""
import argparse
import array
import hashlib
import json
import math
import os
import random
import struct
import subprocess
import sys
import wave

RATE = 16000
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "data"))

from build_data import WORDS, stable_frac  # noqa: E402  (the word classes; the split rule)
# espeak-ng voices of build_data.py's training split (its VAL_VOICES are
# en-gb-scotland and en-us+f3).
TRAIN_VOICES = ["en-us", "en-gb", "en-029", "en-gb-x-rp", "en-gb+f2", "en-us+m3"]
# GM programs of five families that build_data.py's rule
# (stable_frac("progN") >= 0.25) puts in the training split, and the base
# pitch it renders them from.
TRAIN_PROGRAMS = {"flute": ([73, 74, 75], 67), "organ": ([16, 18, 19], 48),
                  "brass": ([56, 58, 60], 55), "bass": ([32, 35, 36], 36),
                  "keyboard": ([0, 2], 48)}
SF2 = "/usr/share/sounds/sf2/FluidR3_GM.sf2"


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise SystemExit(f"make_scenes: {' '.join(cmd[:3])}...: {p.stderr.decode(errors='replace').strip()}")
    return p.stdout


def decode(path):
    """Any file sox reads -> 16 kHz mono floats."""
    raw = run(["sox", "-q", path, "-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1",
               "-r", str(RATE), "-"])
    a = array.array("f")
    a.frombytes(raw[: len(raw) // 4 * 4])
    if sys.byteorder != "little":
        a.byteswap()
    return a


def rms(x):
    return math.sqrt(sum(v * v for v in x) / len(x)) if len(x) else 0.0


def trim(x, trim_db):
    """(first, last) sample of the part within trim_db of the loudest 10 ms frame."""
    f = RATE // 100
    frames = [rms(x[i:i + f]) for i in range(0, len(x) - f + 1, f)]
    if not frames or max(frames) <= 0:
        return None
    thr = max(frames) * 10 ** (-trim_db / 20)
    on = [i for i, v in enumerate(frames) if v >= thr]
    return on[0] * f, (on[-1] + 1) * f


def noise(kind, n, rng):
    """Unit-RMS noise. Pink: Paul Kellet's refined filter (a sum of seven
    first-order sections, within 0.05 dB of 1/f above 9 Hz at 44.1 kHz;
    used here as a pink-ish background, exact slope immaterial)."""
    out = array.array("f", bytes(4 * n))
    if kind == "white":
        for i in range(n):
            out[i] = rng.gauss(0, 1)
    elif kind == "brown":
        b = 0.0
        for i in range(n):
            b = 0.995 * b + rng.gauss(0, 1) * 0.1
            out[i] = b
    else:
        b0 = b1 = b2 = b3 = b4 = b5 = b6 = 0.0
        for i in range(n):
            w = rng.gauss(0, 1)
            b0 = 0.99886 * b0 + w * 0.0555179
            b1 = 0.99332 * b1 + w * 0.0750759
            b2 = 0.96900 * b2 + w * 0.1538520
            b3 = 0.86650 * b3 + w * 0.3104856
            b4 = 0.55000 * b4 + w * 0.5329522
            b5 = -0.7616 * b5 - w * 0.0168980
            out[i] = b0 + b1 + b2 + b3 + b4 + b5 + b6 + w * 0.5362
            b6 = w * 0.115926
    g = 1.0 / (rms(out) or 1.0)
    for i in range(n):
        out[i] *= g
    return out


def write_wav(path, x):
    pcm = array.array("h", (max(-32768, min(32767, int(round(v * 32767)))) for v in x))
    if sys.byteorder != "little":
        pcm.byteswap()
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())


def generate(clip_dir, classes_wanted, per_class, first=0):
    """Renders training-source clips number first .. first + per_class - 1 of
    each class (disjoint numbers give disjoint clips: another voice and speed,
    or another program, pitch and velocity); returns [(path, label)]."""
    from midi import midi_bytes
    os.makedirs(clip_dir, exist_ok=True)
    clips = []
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)   # not under the test suite's sanitizer runtime
    for w in WORDS:
        if classes_wanted and w not in classes_wanted:
            continue
        for k in range(first, first + per_class):
            voice = TRAIN_VOICES[(WORDS.index(w) + k) % len(TRAIN_VOICES)]
            speed = (130, 165, 200)[k % 3]
            dst = os.path.join(clip_dir, f"{w}-{k}.wav")
            if not os.path.exists(dst):
                raw = dst + ".raw.wav"
                subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", raw, w],
                               check=True, env=env, stderr=subprocess.DEVNULL)
                # -R: sox seeds its dither with a fixed number, so that a clip
                # renders the same on every run (it dithers down to 16 bits).
                run(["sox", "-R", "-q", raw, "-r", str(RATE), "-c", "1", "-b", "16", dst,
                     "norm", "-3"])
                os.remove(raw)
            clips.append((dst, w))
    for fam, (progs, base) in sorted(TRAIN_PROGRAMS.items()):
        if classes_wanted and fam not in classes_wanted:
            continue
        for k in range(first, first + per_class):
            prog = progs[k % len(progs)]
            assert stable_frac(f"prog{prog}") >= 0.25, prog
            pitch = base + (0, 4, 7, 10, 12, 16)[k % 6]
            vel = (60, 120)[k % 2]
            dst = os.path.join(clip_dir, f"{fam}-{k}.wav")
            if not os.path.exists(dst):
                mid = dst + ".mid"
                with open(mid, "wb") as fh:
                    fh.write(midi_bytes(prog, [(pitch, vel)], 2.0, 0.5))
                subprocess.run(["fluidsynth", "-q", "-ni", "-g", "0.8", "-R", "0", "-C", "0",
                                "-F", dst + ".f.wav", "-r", str(RATE), SF2, mid], check=True, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                run(["sox", "-R", "-q", dst + ".f.wav", "-c", "1", "-b", "16", dst])
                os.remove(mid)
                os.remove(dst + ".f.wav")
            clips.append((dst, fam))
    return clips


def model_labels(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        if n > 1 << 24:
            raise SystemExit(f"make_scenes: {path}: not a safetensors file")
        meta = json.loads(f.read(n))["__metadata__"]
    return set(json.loads(meta["clar.labels"]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--manifest", action="append", default=[])
    ap.add_argument("--generate", metavar="CLIPDIR")
    ap.add_argument("--per-class", type=int, default=3, help="clips per class with --generate")
    ap.add_argument("--first-clip", type=int, default=0,
                    help="with --generate, number the clips of each class from this (a "
                         "calibration set of other clips than the test set's: calibrate.sh)")
    ap.add_argument("--classes", default="", help="comma-separated classes to use (default all)")
    ap.add_argument("--exclude", default="silence,noise")
    ap.add_argument("--model", help="keep only classes that are labels of this model")
    ap.add_argument("--scenes", type=int, default=20)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--events", default="3:5", help="events per scene, MIN:MAX")
    ap.add_argument("--snr", default="0,10,20", help="SNRs in dB to draw from")
    ap.add_argument("--background", choices=["pink", "brown", "white"], default="pink")
    ap.add_argument("--background-level", type=float, default=-35.0, help="dBFS RMS")
    ap.add_argument("--min-gap", type=float, default=1.0)
    ap.add_argument("--max-event", type=float, default=4.0)
    ap.add_argument("--trim-db", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)

    lo, _, hi = a.events.partition(":")
    k_lo, k_hi = int(lo), int(hi or lo)
    snrs = [float(x) for x in a.snr.split(",") if x]
    if k_lo < 1 or k_hi < k_lo or not snrs or a.duration <= 0 or a.scenes < 1 \
            or a.first_clip < 0 or a.per_class < 1:
        raise SystemExit("make_scenes: need --events MIN:MAX >= 1, --snr, --duration > 0, --scenes >= 1")
    wanted = {c for c in a.classes.split(",") if c}
    exclude = {c for c in a.exclude.split(",") if c}
    allowed = model_labels(a.model) if a.model else None

    clips = []
    for m in a.manifest:
        base = os.path.dirname(os.path.abspath(m))
        with open(m, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                p = line.rstrip("\n").split("\t")
                if len(p) < 3 or p[0] == "path":
                    continue
                if p[2] == "train":
                    clips.append((os.path.join(base, p[0]), p[1]))
    if a.generate:
        clips += generate(a.generate, wanted, a.per_class, a.first_clip)
    clips = [(p, l) for p, l in clips if l not in exclude and (not wanted or l in wanted)
             and (allowed is None or l in allowed)]
    if not clips:
        raise SystemExit("make_scenes: no training clips (give --manifest or --generate; "
                         "check --classes/--model)")
    # The same arguments and clips make the same scenes: an OUT that holds
    # them already (stamp.json) is kept, so that rerunning an evaluation on
    # another model costs only the model's runs.
    stamp = {k: v for k, v in vars(a).items() if k not in ("out", "model")}
    stamp["clips"] = sorted((hashlib.md5(open(p, "rb").read()).hexdigest(), l) for p, l in clips)
    stamp_path = os.path.join(a.out, "stamp.json")
    try:
        with open(stamp_path) as fh:
            old = json.load(fh)
        with open(os.path.join(a.out, "scenes.txt")) as fh:
            old_paths = [l.rstrip("\n") for l in fh]
        if old == json.loads(json.dumps(stamp)) and len(old_paths) == a.scenes \
                and all(os.path.exists(p) for p in old_paths):
            print(f"make_scenes: {a.out} holds these scenes already", file=sys.stderr)
            return 0
    except (OSError, ValueError):
        pass
    if os.path.exists(stamp_path):
        os.remove(stamp_path)
    by_class = {}
    for p, l in clips:
        by_class.setdefault(l, []).append(p)
    classes = sorted(by_class)
    rng = random.Random(a.seed)
    for c in classes:
        by_class[c].sort()
        rng.shuffle(by_class[c])
    deck, cache = [], {}
    os.makedirs(a.out, exist_ok=True)
    n_total = int(round(a.duration * RATE))
    bg_gain = 10 ** (a.background_level / 20)
    ref_rows, paths = [], []
    used = {c: 0 for c in classes}

    def next_clip():
        # Round-robin over a shuffled class list; within a class, the next clip
        # whose sounding part is long enough.
        nonlocal deck
        for _ in range(4 * len(classes) + 4):
            if not deck:
                deck = classes[:]
                rng.shuffle(deck)
            c = deck.pop()
            lst = by_class[c]
            for _ in range(len(lst)):
                p = lst[used[c] % len(lst)]
                used[c] += 1
                if p not in cache:
                    x = decode(p)
                    t = trim(x, a.trim_db)
                    if t is None or t[1] - t[0] < RATE // 5:
                        cache[p] = None
                    else:
                        seg = x[t[0]:min(t[1], t[0] + int(a.max_event * RATE))]
                        cache[p] = (seg, rms(seg))
                if cache[p] is not None:
                    return c, p, cache[p]
        raise SystemExit("make_scenes: no clip sounds for at least 0.2 s")

    for s in range(a.scenes):
        scene = noise(a.background, n_total, rng)
        for i in range(n_total):
            scene[i] *= bg_gain
        k = rng.randint(k_lo, k_hi)
        picks = [next_clip() for _ in range(k)]
        # Keep as many events as fit with the minimum gap between them and at
        # each end; spread the free time at random between them.
        gap = int(a.min_gap * RATE)
        while picks and sum(len(p[2][0]) for p in picks) + gap * (len(picks) + 1) > n_total:
            picks.pop()
        free = n_total - sum(len(p[2][0]) for p in picks) - gap * (len(picks) + 1)
        cuts = sorted(rng.randint(0, free) for _ in picks)
        name = f"scene-{s:03d}.wav"
        pos, prev = gap, 0
        for (c, p, (seg, seg_rms)), cut in zip(picks, cuts):
            pos += cut - prev
            prev = cut
            snr = rng.choice(snrs)
            g = bg_gain * 10 ** (snr / 20) / seg_rms
            for i, v in enumerate(seg):
                scene[pos + i] += g * v
            ref_rows.append((name, pos / RATE, (pos + len(seg)) / RATE, c, snr, p))
            pos += len(seg) + gap
        peak = max(abs(v) for v in scene)
        if peak > 0.99:
            # Scale the whole scene: SNRs are unchanged.
            g = 0.99 / peak
            for i in range(n_total):
                scene[i] *= g
        path = os.path.join(a.out, name)
        write_wav(path, scene)
        paths.append(path)
    with open(os.path.join(a.out, "reference.tsv"), "w", encoding="utf-8") as fh:
        fh.write("file\tonset\toffset\tlabel\tsnr_db\tclip\n")
        for r in ref_rows:
            fh.write(f"{r[0]}\t{r[1]:.4f}\t{r[2]:.4f}\t{r[3]}\t{r[4]:g}\t{r[5]}\n")
    with open(os.path.join(a.out, "scenes.txt"), "w") as fh:
        fh.write("".join(p + "\n" for p in paths))
    with open(stamp_path, "w") as fh:
        json.dump(stamp, fh)
    print(f"make_scenes: {len(paths)} scenes, {len(ref_rows)} events of {len(classes)} classes "
          f"in {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
