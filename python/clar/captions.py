# SPDX-License-Identifier: LGPL-2.1-or-later
"""Captions for CLAP training built from a clip's manifest metadata: the
rules of src/train/clap.c (clar_clap_clip_kind, clar_clap_n_captions,
clar_clap_caption) in Python, so the PyTorch trainer draws from the same
caption set as clar-train --clap. tests/python/test_pyclar.py compares
every variant with the C functions on metadata of every kind."""
import os
import re

# General MIDI Level 1 sound set (MIDI Manufacturers Association, 1991).
GM_PROGRAMS = (
    'Acoustic Grand Piano', 'Bright Acoustic Piano', 'Electric Grand Piano',
    'Honky-tonk Piano', 'Electric Piano 1', 'Electric Piano 2', 'Harpsichord', 'Clavinet',
    'Celesta', 'Glockenspiel', 'Music Box', 'Vibraphone', 'Marimba', 'Xylophone',
    'Tubular Bells', 'Dulcimer', 'Drawbar Organ', 'Percussive Organ', 'Rock Organ',
    'Church Organ', 'Reed Organ', 'Accordion', 'Harmonica', 'Tango Accordion',
    'Acoustic Guitar (nylon)', 'Acoustic Guitar (steel)', 'Electric Guitar (jazz)',
    'Electric Guitar (clean)', 'Electric Guitar (muted)', 'Overdriven Guitar',
    'Distortion Guitar', 'Guitar Harmonics', 'Acoustic Bass', 'Electric Bass (finger)',
    'Electric Bass (pick)', 'Fretless Bass', 'Slap Bass 1', 'Slap Bass 2', 'Synth Bass 1',
    'Synth Bass 2', 'Violin', 'Viola', 'Cello', 'Contrabass', 'Tremolo Strings',
    'Pizzicato Strings', 'Orchestral Harp', 'Timpani', 'String Ensemble 1',
    'String Ensemble 2', 'Synth Strings 1', 'Synth Strings 2', 'Choir Aahs', 'Voice Oohs',
    'Synth Voice', 'Orchestra Hit', 'Trumpet', 'Trombone', 'Tuba', 'Muted Trumpet',
    'French Horn', 'Brass Section', 'Synth Brass 1', 'Synth Brass 2', 'Soprano Sax',
    'Alto Sax', 'Tenor Sax', 'Baritone Sax', 'Oboe', 'English Horn', 'Bassoon', 'Clarinet',
    'Piccolo', 'Flute', 'Recorder', 'Pan Flute', 'Blown Bottle', 'Shakuhachi', 'Whistle',
    'Ocarina', 'Lead 1 (square)', 'Lead 2 (sawtooth)', 'Lead 3 (calliope)', 'Lead 4 (chiff)',
    'Lead 5 (charang)', 'Lead 6 (voice)', 'Lead 7 (fifths)', 'Lead 8 (bass + lead)',
    'Pad 1 (new age)', 'Pad 2 (warm)', 'Pad 3 (polysynth)', 'Pad 4 (choir)', 'Pad 5 (bowed)',
    'Pad 6 (metallic)', 'Pad 7 (halo)', 'Pad 8 (sweep)', 'FX 1 (rain)', 'FX 2 (soundtrack)',
    'FX 3 (crystal)', 'FX 4 (atmosphere)', 'FX 5 (brightness)', 'FX 6 (goblins)',
    'FX 7 (echoes)', 'FX 8 (sci-fi)', 'Sitar', 'Banjo', 'Shamisen', 'Koto', 'Kalimba',
    'Bagpipe', 'Fiddle', 'Shanai', 'Tinkle Bell', 'Agogo', 'Steel Drums', 'Woodblock',
    'Taiko Drum', 'Melodic Tom', 'Synth Drum', 'Reverse Cymbal', 'Guitar Fret Noise',
    'Breath Noise', 'Seashore', 'Bird Tweet', 'Telephone Ring', 'Helicopter', 'Applause',
    'Gunshot',
)

NOTES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
SOUND, INSTRUMENT, WORD, SILENCE, NOISE = range(5)
ACCENTS = (("en-gb-x-gbclan", "Lancastrian English"), ("en-gb-x-rp", "received pronunciation"),
           ("en-gb-scotland", "Scottish English"), ("en-gb", "British English"),
           ("en-us", "American English"), ("en-029", "Caribbean English"))


def clip_kind(label, source):
    if label == "silence":
        return SILENCE
    if label == "noise":
        return NOISE
    if source and source.startswith("fluidsynth"):
        return INSTRUMENT
    if source and (source.startswith("espeak") or source.startswith("flite")):
        return WORD
    return SOUND


def _c_int(s):
    """sscanf %d: optional sign and digits at the start."""
    m = re.match(r"\s*([+-]?\d+)", s)
    return int(m.group(1)) if m else None


def _instrument_numbers(path, group):
    prog = note = vel = -1
    base = os.path.basename(path or "")
    m = re.match(r"p\s*([+-]?\d+)_n\s*([+-]?\d+)_v\s*([+-]?\d+)", base)
    if m:
        p, n, v = (int(x) for x in m.groups())
        prog = p if 0 <= p < 128 else -1
        note = n if 0 <= n < 128 else -1
        vel = v if 1 <= v < 128 else -1
    if prog < 0 and group and group.startswith("program"):
        p = _c_int(group[7:])
        if p is not None and 0 <= p < 128:
            prog = p
    return prog, note, vel


def _voice(source):
    gender, accent = "male", "English"
    if not source or ":" not in source:
        return gender, accent
    v = source[source.index(":") + 1:]
    if "+f" in v:
        gender = "female"
    for code, name in ACCENTS:
        if v.startswith(code):
            accent = name
            break
    return gender, accent


def _speed(caption):
    if not caption or "," not in caption:
        return None
    c = caption[caption.rindex(",") + 1:].lstrip(" ")
    return {"slow": "slowly", "fast": "fast", "normal": "at normal speed"}.get(c)


def n_captions(path, label, source, group, caption):
    k = clip_kind(label, source)
    if k == INSTRUMENT:
        p, n, v = _instrument_numbers(path, group)
        return 9 if p >= 0 and n >= 0 and v >= 0 else 6 if p >= 0 else 3
    if k == WORD:
        return 8
    if k == SOUND:
        return 5 if source else 4
    return 4


def caption(path, label, source, group, caption_col, k):
    """Caption variant k (0 = the plain class name), or None."""
    if not label or k < 0 or k >= n_captions(path, label, source, group, caption_col):
        return None
    cls = label.replace("_", " ")
    kind = clip_kind(label, source)
    cap = caption_col or ""
    if kind == INSTRUMENT:
        p, n, v = _instrument_numbers(path, group)
        note = f"{NOTES[n % 12]}{n // 12 - 1}" if n >= 0 else ""
        if ", soft" in cap:
            loud = "soft"
        elif ", medium" in cap:
            loud = "medium"
        elif ", loud" in cap:
            loud = "loud"
        else:
            loud = "soft" if v < 80 else "medium" if v < 110 else "loud"
        rng = "low" if n < 48 else "middle" if n < 72 else "high"
        gm = GM_PROGRAMS[p] if p >= 0 else ""
        return [cls, f"a {cls} note", f"the sound of a {cls}", gm, f"a {gm}, a {cls} instrument",
                "a musical instrument playing a note", f"a {loud} {cls} note",
                f"a {rng}-pitched {cls} note, {note}",
                f"a {cls} note, {note}, {loud}, {gm}" + (", with reverb" if "reverb" in cap else "")
                ][k]
    if kind == WORD:
        gender, accent = _voice(source)
        sp = _speed(cap)
        return [cls, f"the word {cls}", f"someone saying {cls}", f"a {gender} voice saying {cls}",
                f"the word {cls} spoken in {accent}",
                f"{cls} spoken {sp}" if sp else f"the spoken word {cls}",
                f"a {gender} speaker of {accent} saying {cls}", "speech"][k]
    if kind == SOUND:
        src = (source or "")[:63]
        for suf in ("-data", "-audio"):
            if suf in src:
                src = src[:src.index(suf)]
                break
        return [cls, f"the sound of {cls}", f"a {cls} sound", f"{cls} sound effect",
                f"{cls}, a sound effect from {src}"][k]
    if kind == SILENCE:
        return ["silence", "quiet", "no sound", "near silence, very quiet noise"][k]
    # sscanf (caption, "%15[a-z] noise") counts the conversion even when
    # " noise" does not follow: the leading run of lower-case letters.
    m = re.match(r"[a-z]{1,15}", cap)
    color = m.group(0) if m else "white"
    return ["noise", f"{color} noise", "background noise", f"a steady hiss of {color} noise"][k]
