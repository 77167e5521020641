#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Build gst-clar's training data from Debian packages (standard library only;
uses apt-get, dpkg-deb, tar, unzip, sox, espeak-ng, flite, fluidsynth).

Sets (16 kHz mono WAV under OUT/, manifest OUT/manifest.tsv with columns
path, label, split, source, group, caption):
  instruments  notes from FluidR3_GM.sf2 over the 97 melodic GM programs of
               shared/data/gm-families.tsv (11 families), 6 pitches x 3 velocities
               (one of them with reverb/chorus); val = whole programs (about 1 in 4
               per family)
  words        20 Speech-Commands-style words by espeak-ng and flite voices at
               several speeds/pitches, with low noise; val = whole voices
  sounds       the 28 classes of shared/data/realsounds-train.tsv, from their
               packages; val = whole source folders (about 1 in 5 per class)
  background   "silence" and "noise" (white/pink/brown, hum), generated
  unlabelled   a pool for self-supervised training (OUT/unlabelled/PKG/*.wav, not
               in the manifest; list in OUT/unlabelled.tsv): speech and effects
               from game/education packages (shared/data/README.md), music
               folders skipped, at most --pool-per-package files per package,
               each cut to its first 6 s; files of realsounds-train.tsv (any
               split) are excluded so no validation audio leaks into it
Every packaged file whose md5 is in the held-out list is dropped (counted).
Resumable: a finished stage leaves OUT/.done-STAGE.
"""
import argparse
import concurrent.futures as cf
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from midi import midi_bytes  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
SF2 = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
         "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
ESPEAK = ["en-us", "en-gb", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-us+f3", "en-gb+f2",
          "en-us+m3", "en-gb-x-gbclan+f4"]
FLITE = ["kal", "awb", "rms", "slt"]
VAL_VOICES = {"en-gb-scotland", "en-us+f3", "flite-slt"}
NOTE_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
GM_NAMES = None


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def stable_frac(s):
    return int(hashlib.sha1(s.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def to_wav(src, dst, extra=()):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    run(["sox", "-q", src, "-r", "16000", "-c", "1", "-b", "16", dst, *extra])


def instruments(out, rows, quick):
    fams = [l.rstrip("\n").split("\t") for l in open(os.path.join(SHARED, "gm-families.tsv"))][1:]
    if quick:
        fams = fams[::12]
    tmp = os.path.join(out, "tmp-midi")
    os.makedirs(tmp, exist_ok=True)
    note_s, gap_s = 2.0, 1.0

    def one(f):
        prog, fam = int(f[0]), f[1]
        base = {"bass": 36, "vocal": 55, "flute": 67, "reed": 55, "brass": 55}.get(fam, 48)
        # Six pitches over an octave and a third, three velocities; the
        # middle velocity is rendered "wet" (fluidsynth's reverb and chorus,
        # lower gain, as fluidsynth plays by default), the others dry.
        pitches = [base + d for d in (0, 4, 7, 10, 12, 16)]
        takes = [("dry", ["-g", "0.8", "-R", "0", "-C", "0"], [(p, v) for p in pitches for v in (60, 120)]),
                 ("wet", ["-g", "0.4", "-R", "1", "-C", "1"], [(p, 90) for p in pitches])]
        split = "val" if stable_frac(f"prog{prog}") < 0.25 else "train"
        res = []
        for take, opts, notes in takes:
            mid = os.path.join(tmp, f"p{prog}-{take}.mid")
            wav = os.path.join(tmp, f"p{prog}-{take}.wav")
            with open(mid, "wb") as fh:
                fh.write(midi_bytes(prog, notes, note_s, gap_s))
            run(["fluidsynth", "-q", "-ni", *opts, "-F", wav, "-r", "16000", SF2, mid])
            for i, (p, v) in enumerate(notes):
                rel = f"instruments/{fam}/p{prog:03d}_n{p}_v{v}.wav"
                dst = os.path.join(out, rel)
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                run(["sox", "-q", wav, "-c", "1", "-b", "16", dst, "trim", str(i * (note_s + gap_s)), str(note_s)])
                name = NOTE_NAMES[p % 12] + str(p // 12 - 1)
                loud = "loud" if v > 100 else "soft" if v < 80 else "medium"
                room = ", with reverb" if take == "wet" else ""
                res.append((rel, fam, split, "fluidsynth:FluidR3_GM", f"program{prog}",
                            f"a {fam.replace('_', ' ')} note, {name}, {loud}{room}, General MIDI program {prog}"))
        return res

    with cf.ThreadPoolExecutor(2) as ex:
        for i, r in enumerate(ex.map(one, fams)):
            rows.extend(r)
            if i % 10 == 0:
                log(f"instruments: {i + 1}/{len(fams)} programs")
    shutil.rmtree(tmp, ignore_errors=True)


def words(out, rows, quick):
    jobs = []
    voices = [("espeak", v) for v in ESPEAK] + [("flite", v) for v in FLITE]
    speeds = [(130, 0.85), (165, 1.0), (200, 1.25)]
    pitches = [35, 65]
    wl = WORDS[:4] if quick else WORDS
    for engine, voice in (voices[:2] + voices[-1:] if quick else voices):
        vname = voice if engine == "espeak" else f"flite-{voice}"
        for w in wl:
            for si, (sp, stretch) in enumerate(speeds):
                for pi, pt in enumerate(pitches if engine == "espeak" else [None]):
                    rel = f"words/{w}/{vname.replace('+', '_')}_s{si}_p{pi}.wav"
                    jobs.append((engine, voice, vname, w, sp, stretch, pt, rel))

    def one(j):
        engine, voice, vname, w, sp, stretch, pt, rel = j
        dst = os.path.join(out, rel)
        if os.path.exists(dst):
            return j
        raw = dst + ".raw.wav"
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if engine == "espeak":
            run(["espeak-ng", "-v", voice, "-s", str(sp), "-p", str(pt), "-w", raw, w])
        else:
            run(["flite", "-voice", voice, "-t", w, "-o", raw, "--setf", f"duration_stretch={1 / stretch:.3f}"])
        # Low pink noise (about 35 dB below the word) so that clean digital
        # silence around words is no shortcut.
        padded = os.path.join(os.path.dirname(dst), os.path.basename(dst) + ".p.wav")
        run(["sox", "-q", raw, "-r", "16000", "-c", "1", "-b", "16", padded, "norm", "-3", "pad", "0.2", "0.2"])
        dur = subprocess.run(["soxi", "-D", padded], capture_output=True, text=True).stdout.strip()
        run(["sox", "-q", "-m", padded, "-v", "0.02", f"|sox -n -r 16000 -c 1 -b 16 -p synth {dur} pinknoise",
             "-b", "16", dst])
        os.remove(padded)
        os.remove(raw)
        return j

    with cf.ThreadPoolExecutor(2) as ex:
        for i, j in enumerate(ex.map(one, jobs)):
            engine, voice, vname, w, sp, stretch, pt, rel = j
            split = "val" if vname in VAL_VOICES else "train"
            speed = {130: "slow", 165: "normal", 200: "fast"}[sp]
            rows.append((rel, w, split, f"{engine}:{vname}", vname,
                         f"the word {w} spoken by {engine} voice {vname}, {speed}"))
            if i % 200 == 0:
                log(f"words: {i + 1}/{len(jobs)}")


def extract_deb(deb, dest, members):
    """Extracts the given paths (relative, without leading ./) from a .deb."""
    os.makedirs(dest, exist_ok=True)
    lst = os.path.join(dest, ".members")
    with open(lst, "w") as f:
        for m in members:
            f.write("./" + m + "\n")
    p1 = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", dest, "-T", lst], stdin=p1.stdout, check=False,
                   stderr=subprocess.DEVNULL)
    p1.wait()


def sounds(out, rows, debs, heldout, quick, stats):
    tsv = [l.rstrip("\n").split("\t") for l in open(os.path.join(SHARED, "realsounds-train.tsv"))][1:]
    if quick:
        tsv = [r for r in tsv if r[2] == "minetest-data"]
    by_pkg = {}
    for cls, split, pkg, dur, path in tsv:
        by_pkg.setdefault(pkg, []).append((cls, path))
    raw = os.path.join(out, "tmp-raw")
    for pkg, items in sorted(by_pkg.items()):
        debpkg = "0ad-data" if pkg == "0ad-audio" else pkg
        have = [f for f in os.listdir(debs) if f.startswith(debpkg + "_") and f.endswith(".deb")]
        if not have:
            log(f"sounds: downloading {debpkg}")
            subprocess.run(["apt-get", "download", debpkg], cwd=debs, check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            have = [f for f in os.listdir(debs) if f.startswith(debpkg + "_") and f.endswith(".deb")]
            if not have:
                log(f"sounds: package {debpkg} is not available; skipping its {len(items)} clips")
                stats["sounds_missing"] = stats.get("sounds_missing", 0) + len(items)
                continue
        deb = os.path.join(debs, sorted(have)[-1])
        ver = subprocess.run(["dpkg-deb", "-f", deb, "Version"], capture_output=True, text=True).stdout.strip()
        stats.setdefault("packages", {})[debpkg] = ver
        dest = os.path.join(raw, debpkg)
        log(f"sounds: {pkg} ({len(items)} clips) from {os.path.basename(deb)}")
        if pkg == "0ad-audio":
            zpath = "usr/share/games/0ad/mods/public/public.zip"
            if not os.path.exists(os.path.join(dest, zpath)):
                extract_deb(deb, dest, [zpath])
            with zipfile.ZipFile(os.path.join(dest, zpath)) as z:
                for cls, path in items:
                    inner = path.split("0ad-audio/", 1)[1] if "0ad-audio/" in path else path
                    target = os.path.join(dest, "zip", inner)
                    if not os.path.exists(target):
                        os.makedirs(os.path.dirname(target), exist_ok=True)
                        with z.open(inner) as src, open(target, "wb") as dst:
                            shutil.copyfileobj(src, dst)
            src_of = lambda p: os.path.join(dest, "zip", p.split("0ad-audio/", 1)[1] if "0ad-audio/" in p else p)
        else:
            members = [p.split("/", 1)[1] for _, p in items]
            if not all(os.path.exists(os.path.join(dest, m)) for m in members):
                extract_deb(deb, dest, members)
            src_of = lambda p: os.path.join(dest, p.split("/", 1)[1])
        for cls, path in items:
            src = src_of(path)
            if not os.path.exists(src):
                stats["sounds_missing"] = stats.get("sounds_missing", 0) + 1
                continue
            if md5(src) in heldout:
                stats["heldout_removed"] = stats.get("heldout_removed", 0) + 1
                continue
            group = pkg + ":" + os.path.dirname(path)
            rel = f"sounds/{cls}/{hashlib.sha1(path.encode()).hexdigest()[:12]}.wav"
            dst = os.path.join(out, rel)
            if not os.path.exists(dst):
                try:
                    to_wav(src, dst)
                except subprocess.CalledProcessError:
                    stats["sounds_failed"] = stats.get("sounds_failed", 0) + 1
                    continue
            rows.append((rel, cls, None, pkg, group,
                         f"{cls.replace('_', ' ')} ({pkg}, {os.path.basename(path)})"))
    # Val: about one in five source folders of each class (never all of them).
    for cls in sorted({r[1] for r in rows if r[0].startswith("sounds/")}):
        groups = sorted({r[4] for r in rows if r[0].startswith("sounds/") and r[1] == cls})
        val = {g for g in groups if stable_frac(g) < 0.2} if len(groups) > 1 else set()
        if len(groups) > 1 and not val:
            val = {min(groups, key=stable_frac)}
        if len(val) == len(groups):
            val.discard(max(groups, key=stable_frac))
        for i, r in enumerate(rows):
            if r[0].startswith("sounds/") and r[1] == cls:
                rows[i] = (r[0], r[1], "val" if r[4] in val else "train", r[3], r[4], r[5])
    shutil.rmtree(raw, ignore_errors=True)


POOL_PACKAGES = ["hedgewars-data", "megaglest-data", "wesnoth-1.16-data", "widelands-data",
                 "0ad-data", "klettres-data", "ktuberling-data", "fillets-ng-data-cs",
                 "asterisk-core-sounds-en-wav"]
AUDIO_EXT = (".ogg", ".wav", ".flac", ".mp3", ".opus")


def fetch_deb(debs, pkg):
    have = [f for f in os.listdir(debs) if f.startswith(pkg + "_") and f.endswith(".deb")]
    if not have:
        log(f"downloading {pkg}")
        subprocess.run(["apt-get", "download", pkg], cwd=debs, check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        have = [f for f in os.listdir(debs) if f.startswith(pkg + "_") and f.endswith(".deb")]
    return os.path.join(debs, sorted(have)[-1]) if have else None


def unlabelled(out, debs, heldout, quick, per_package, stats):
    """Writes OUT/unlabelled/PKG/*.wav and OUT/unlabelled.tsv (path, package, member)."""
    listed = {l.rstrip("\n").split("\t")[4] for l in open(os.path.join(SHARED, "realsounds-train.tsv"))}
    listed_tail = {p.split("/", 1)[1] for p in listed if "/" in p}
    # Quick mode (tests) takes the small package the sounds stage fetched.
    pkgs = ["minetest-data"] if quick else POOL_PACKAGES
    per_package = 10 if quick else per_package
    raw = os.path.join(out, "tmp-pool")
    rows = []
    for pkg in pkgs:
        deb = fetch_deb(debs, pkg)
        if not deb:
            log(f"unlabelled: {pkg} is not available; skipped")
            continue
        ver = subprocess.run(["dpkg-deb", "-f", deb, "Version"], capture_output=True, text=True).stdout.strip()
        stats.setdefault("packages", {})[pkg] = ver
        names = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True).stdout.splitlines()
        members = [ln.split()[-1][2:] for ln in names if ln.split()[-1].lower().endswith(AUDIO_EXT)]
        dest = os.path.join(raw, pkg)
        if pkg == "0ad-data":
            zpath = "usr/share/games/0ad/mods/public/public.zip"
            extract_deb(deb, dest, [zpath])
            with zipfile.ZipFile(os.path.join(dest, zpath)) as z:
                members = [m for m in z.namelist() if m.startswith("audio/") and m.lower().endswith(AUDIO_EXT)]
                members = [m for m in members if "music" not in m.lower()
                           and "0ad-audio/" + m not in listed]
                members = sorted(members, key=lambda m: stable_frac(pkg + m))[:per_package]
                for m in members:
                    target = os.path.join(dest, m)
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with z.open(m) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
        else:
            members = [m for m in members if "music" not in m.lower() and m not in listed_tail]
            members = sorted(members, key=lambda m: stable_frac(pkg + m))[:per_package]
            extract_deb(deb, dest, members)
        n = 0
        for m in members:
            src = os.path.join(dest, m)
            if not os.path.exists(src) or os.path.getsize(src) < 2000:
                continue
            if md5(src) in heldout:
                stats["heldout_removed"] = stats.get("heldout_removed", 0) + 1
                continue
            rel = f"unlabelled/{pkg}/{hashlib.sha1(m.encode()).hexdigest()[:12]}.wav"
            dst = os.path.join(out, rel)
            if not os.path.exists(dst):
                try:
                    to_wav(src, dst, ("trim", "0", "6"))
                except subprocess.CalledProcessError:
                    stats["pool_failed"] = stats.get("pool_failed", 0) + 1
                    continue
            # The converted file is checked too (a held-out clip may ship twice).
            if md5(dst) in heldout:
                stats["heldout_removed"] = stats.get("heldout_removed", 0) + 1
                os.remove(dst)
                continue
            rows.append((rel, pkg, m))
            n += 1
        log(f"unlabelled: {pkg} {ver}: {n} clips")
        shutil.rmtree(dest, ignore_errors=True)
    shutil.rmtree(raw, ignore_errors=True)
    with open(os.path.join(out, "unlabelled.tsv"), "w") as f:
        f.write("path\tpackage\tmember\n")
        for r in rows:
            f.write("\t".join(r) + "\n")
    return len(rows)


def background(out, rows, quick):
    rng = random.Random(7)
    n = 20 if quick else 120
    for i in range(n):
        # Silence: very low noise or digital zero; noise: coloured noise or hum.
        for cls in ("silence", "noise"):
            rel = f"background/{cls}/{cls}{i:03d}.wav"
            dst = os.path.join(out, rel)
            split = "val" if i % 5 == 0 else "train"
            dur = f"{rng.uniform(1.5, 4.0):.2f}"
            if cls == "silence":
                lvl = rng.choice([0.0, 0.0005, 0.002, 0.005])
                kind = "digital zero" if lvl == 0 else "very quiet noise"
                cmd = ["sox", "-q", "-n", "-r", "16000", "-c", "1", "-b", "16", dst, "synth", dur,
                       "whitenoise", "vol", str(lvl)]
                cap = f"silence ({kind})"
            else:
                kind = rng.choice(["whitenoise", "pinknoise", "brownnoise", "hum"])
                vol = f"{rng.uniform(0.05, 0.6):.3f}"
                if kind == "hum":
                    f0 = rng.choice([50, 60])
                    cmd = ["sox", "-q", "-n", "-r", "16000", "-c", "1", "-b", "16", dst, "synth", dur,
                           "sine", str(f0), "sine", str(2 * f0), "sine", str(3 * f0), "remix", "-", "vol", vol]
                else:
                    cmd = ["sox", "-q", "-n", "-r", "16000", "-c", "1", "-b", "16", dst, "synth", dur, kind, "vol", vol]
                cap = f"{kind.replace('noise', ' noise')} background"
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if not os.path.exists(dst):
                run(cmd)
            rows.append((rel, cls, split, "sox", f"{cls}{i % 5}", cap))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "data"))
    ap.add_argument("--quick", action="store_true", help="a tiny subset, for tests")
    ap.add_argument("--heldout", default=os.path.join(SHARED, "heldout-md5.txt"))
    ap.add_argument("--sets", default="instruments,words,sounds,background,unlabelled")
    ap.add_argument("--pool-per-package", type=int, default=400,
                    help="most files taken from each unlabelled-pool package (default 400)")
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    debs = os.path.join(out, "debs")
    os.makedirs(debs, exist_ok=True)
    heldout = {l.strip() for l in open(a.heldout) if l.strip()}
    stats, t0 = {}, time.time()
    labelled_sets = [st for st in a.sets.split(",") if st != "unlabelled"]
    for st in a.sets.split(","):
        rows = []
        if st == "unlabelled":
            if os.path.exists(os.path.join(out, ".done-unlabelled")):
                log("unlabelled: already built")
                continue
            log("unlabelled: building")
            st_stats = {}
            n = unlabelled(out, debs, heldout, a.quick, a.pool_per_package, st_stats)
            st_stats["unlabelled_clips"] = n
            with open(os.path.join(out, ".done-unlabelled"), "w") as f:
                json.dump(st_stats, f)
            log(f"unlabelled: {n} clips")
            continue
        part = os.path.join(out, f"manifest-{st}.tsv")
        if os.path.exists(os.path.join(out, f".done-{st}")) and os.path.exists(part):
            log(f"{st}: already built")
            continue
        log(f"{st}: building")
        st_stats = {}
        if st == "instruments":
            instruments(out, rows, a.quick)
        elif st == "words":
            words(out, rows, a.quick)
        elif st == "sounds":
            sounds(out, rows, debs, heldout, a.quick, st_stats)
        elif st == "background":
            background(out, rows, a.quick)
        else:
            sys.exit(f"unknown set {st}")
        # Generated files are checked against the held-out list too.
        kept = []
        for r in rows:
            if md5(os.path.join(out, r[0])) in heldout:
                st_stats["heldout_removed"] = st_stats.get("heldout_removed", 0) + 1
                os.remove(os.path.join(out, r[0]))
            else:
                kept.append(r)
        with open(part, "w") as f:
            for r in kept:
                f.write("\t".join(r) + "\n")
        # Each stage's package versions and counts stay with its marker, so
        # a resumed build still reports every stage.
        with open(os.path.join(out, f".done-{st}"), "w") as f:
            json.dump(st_stats, f)
        log(f"{st}: {len(kept)} clips")
    rows = []
    for st in labelled_sets:
        rows += [l.rstrip("\n").split("\t") for l in open(os.path.join(out, f"manifest-{st}.tsv"))]
    with open(os.path.join(out, "manifest.tsv"), "w") as f:
        f.write("path\tlabel\tsplit\tsource\tgroup\tcaption\n")
        for r in rows:
            f.write("\t".join(r) + "\n")
    old = os.path.join(out, "VERSION.tsv")
    if os.path.exists(old):   # versions recorded by an earlier run of a finished stage
        for line in open(old):
            k, _, v = line.rstrip("\n").partition("\t")
            if k.startswith("package:"):
                stats.setdefault("packages", {}).setdefault(k[8:], v)
    for st in a.sets.split(","):
        try:
            with open(os.path.join(out, f".done-{st}")) as f:
                st_stats = json.load(f)
        except (OSError, ValueError):
            st_stats = {}   # a marker from before stages kept their statistics
        for k, v in st_stats.items():
            if k == "packages":
                stats.setdefault("packages", {}).update(v)
            else:
                stats[k] = stats.get(k, 0) + v
    counts = {}
    for r in rows:
        counts[(r[1], r[2])] = counts.get((r[1], r[2]), 0) + 1
    with open(os.path.join(out, "VERSION.tsv"), "w") as f:
        f.write("key\tvalue\n")
        for k, v in sorted(stats.get("packages", {}).items()):
            f.write(f"package:{k}\t{v}\n")
        for k in ("heldout_removed", "sounds_missing", "sounds_failed", "unlabelled_clips", "pool_failed"):
            f.write(f"{k}\t{stats.get(k, 0)}\n")
        for tool in ("fluidsynth", "espeak-ng", "flite", "fluid-soundfont-gm", "sox"):
            v = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", tool], capture_output=True, text=True).stdout
            f.write(f"tool:{tool}\t{v}\n")
        for (c, s), n in sorted(counts.items()):
            f.write(f"count:{c}:{s}\t{n}\n")
    n_tr = sum(1 for r in rows if r[2] == "train")
    log(f"done: {len(rows)} clips ({n_tr} train, {len(rows) - n_tr} val) in "
        f"{len({r[1] for r in rows})} classes, {time.time() - t0:.0f} s; "
        f"held-out files removed: {stats.get('heldout_removed', 0)}")


if __name__ == "__main__":
    main()
