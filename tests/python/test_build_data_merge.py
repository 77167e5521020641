#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The data builder's manifest on top of another built folder, and its real
voices' digits, without network and without rendering.

Merge: build_data.py's main() on a chain of fake data folders: A (like data
version 3: words, instruments, sounds, background by relative path), B built
on A (like version 7 on 3: A's rows by absolute path, its own instruments,
words, mined and STK rows by relative path) and OUT built on B with the
words set (already built there: OUT/.done-words and OUT/manifest-words.tsv,
so nothing is rendered). OUT/manifest.tsv must hold every row of B that is
not a words row exactly once (absolute), none of B's words rows (also not
those that point into A), and OUT's words rows; a second OUT rebuilding stk
and mined drops exactly B's STK notes (in instruments/) and mined clips.

real_digits: the saytime digits (headerless 8 kHz mu-law, made here by sox)
from a stand-in for source_files: nine val rows (one file held out by md5),
16 kHz mono 16-bit clips of the clip plus 0.2 s either side, at -3 dBFS.
Exits 77 without sox or dpkg-query (main() writes the tool versions)."""
import array
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import wave

from clar_testutil import ROOT, SKIP, Checks

DATA = os.path.join(ROOT, "tools", "data")
sys.path.insert(0, DATA)
import build_data  # noqa: E402

check = Checks()
if not (shutil.which("sox") and shutil.which("dpkg-query")):
    print("skipping: no sox or dpkg-query")
    sys.exit(SKIP)
HEADER = "path\tlabel\tsplit\tsource\tgroup\tcaption"


def write_tsv(path, rows, header=True):
    with open(path, "w") as f:
        f.write("".join(line + "\n" for line in ([HEADER] if header else []) + ["\t".join(r) for r in rows]))


def read_tsv(path):
    return [tuple(l.rstrip("\n").split("\t")) for l in open(path)]


def row(path, label, split, source):
    return (path, label, split, source, source.split(":")[-1], f"a {label}")


def build(out, base, sets, built):
    """build_data.py --sets SETS --out OUT --base BASE, with BUILT
    ({set: rows}) already built in OUT; returns OUT/manifest.tsv's rows.
    preflight() is skipped: nothing here renders."""
    os.makedirs(out)
    for st, rows in built.items():
        write_tsv(os.path.join(out, f"manifest-{st}.tsv"), rows, header=False)
        with open(os.path.join(out, f".done-{st}"), "w") as f:
            f.write("{}")
    argv, pre = sys.argv, build_data.preflight
    sys.argv = ["build_data.py", "--out", out, "--base", base, "--sets", sets, "--heldout", empty]
    build_data.preflight = lambda quick: None
    try:
        build_data.main()
    finally:
        sys.argv, build_data.preflight = argv, pre
    rows = read_tsv(os.path.join(out, "manifest.tsv"))
    check(f"{os.path.basename(out)}: manifest header", rows[0] == tuple(HEADER.split("\t")))
    return rows[1:]


tmp = tempfile.mkdtemp()
try:
    empty = os.path.join(tmp, "heldout.txt")
    open(empty, "w").close()
    # A lies in a folder named "words": the set of a clip is the set folder
    # nearest its file, not any folder of its path.
    a = os.path.join(tmp, "words", "data-v3")
    b = os.path.join(tmp, "data-v7")
    os.makedirs(a)
    os.makedirs(b)
    a_rows = [row("words/one/espeak_en.wav", "one", "train", "espeak:en"),
              row("words/zero/real_it-menardi_0.wav", "zero", "val", "real:asterisk-it-menardi"),
              row("instruments/piano/fluidr3_p000_n60_v100_0.wav", "piano", "train", "fluidsynth:fluidr3"),
              row("sounds/canine/0123456789ab.wav", "canine", "val", "minetest-data"),
              row("background/silence/silence000.wav", "silence", "train", "sox")]
    write_tsv(os.path.join(a, "manifest.tsv"), a_rows)
    b_own = [row("instruments/piano/generaluser_p000_n60_v100_0.wav", "piano", "train",
                 "fluidsynth:generaluser"),
             row("instruments/guitar/stk_plucked_n60_v100_0.wav", "guitar", "train", "stk:Plucked"),
             row("sounds-mined/canine/ba9876543210.wav", "canine", "train", "mined:wesnoth-1.16-data"),
             row("words/two/flite_slt_1.0.wav", "two", "val", "flite:slt")]
    # B's manifest rows made absolute, and the set folder each is in.
    b_abs = [(os.path.join(a, r[0]),) + r[1:] for r in a_rows] + [(os.path.join(b, r[0]),) + r[1:] for r in b_own]
    b_sets = [r[0].split("/")[0] for r in a_rows + b_own]
    write_tsv(os.path.join(b, "manifest.tsv"), [(os.path.join(a, r[0]),) + r[1:] for r in a_rows] + b_own)

    # OUT rebuilds the words set: B's words rows (A's by absolute path, B's
    # own) give way to OUT's; everything else stays once, mined and STK too.
    c_words = [row("words/one/espeak_en_new.wav", "one", "train", "espeak:en"),
               row("words/three/real_en-saytime_3.wav", "three", "val", "real:saytime")]
    man = build(os.path.join(tmp, "out"), b, "words", {"words": c_words})
    want = [r for r, st in zip(b_abs, b_sets) if st != "words"] + c_words
    check("manifest = B's rows but words (absolute, in B's order) + OUT's words rows"
          + ("" if man == want else f": {man}"), man == want)
    check("no path twice", len({r[0] for r in man}) == len(man))
    check("B's words rows dropped, also those by absolute path into A",
          not any(r[0].startswith((a + "/words/", b + "/words/")) for r in man))
    for src in ("mined:", "stk:", "fluidsynth:generaluser", "fluidsynth:fluidr3", "minetest-data", "sox"):
        check(f"one row of source {src}, absolute", [os.path.isabs(r[0]) for r in man if r[3].startswith(src)]
              == [True])
    ver = dict(l.rstrip("\n").split("\t") for l in open(os.path.join(tmp, "out", "VERSION.tsv")))
    check("VERSION.tsv: base B, data version 8 (B's STK, mined and GeneralUser rows kept, saytime's "
          f"digits in OUT's words): {ver.get('data_version')}", ver.get("base") == b and ver.get("data_version") == "8")
    check("VERSION.tsv counts OUT's words, not B's", ver.get("count:one:train") == "1"
          and "count:zero:val" not in ver and "count:two:val" not in ver)

    # Rebuilding stk and mined: B's STK notes (in instruments/, told by their
    # source) and mined clips give way; its instruments and words stay.
    c2_stk = [row("instruments/flute/stk_flute_n72_v64_1.wav", "flute", "train", "stk:Flute")]
    c2_mined = [row("sounds-mined/rain/00aa11bb22cc.wav", "rain", "val", "mined:supertux-data")]
    man2 = build(os.path.join(tmp, "out2"), b, "stk,mined", {"stk": c2_stk, "mined": c2_mined})
    want2 = [r for r in b_abs if not r[3].startswith(("stk:", "mined:"))] + c2_stk + c2_mined
    check("rebuilt stk and mined: B's STK and mined rows replaced, the rest kept"
          + ("" if man2 == want2 else f": {man2}"), man2 == want2)

    # real_digits on saytime-like files: 0.au .. 9.au, headerless mu-law at
    # 8 kHz, quiet (norm must raise them), each its own tone (own md5).
    pkg = os.path.join(tmp, "saytime", "usr", "share", "saytime")
    os.makedirs(pkg)
    for d in range(10):
        build_data.run(["sox", "-n", "-r", "8000", "-c", "1", "-t", "ul", os.path.join(pkg, f"{d}.au"),
                        "synth", "0.5", "sine", str(300 + 40 * d), "vol", "0.1"])
    held = {hashlib.md5(open(os.path.join(pkg, "3.au"), "rb").read()).hexdigest(), "0" * 32}
    asked = []

    def fake_source_files(debs, heldout, p, member, stats):
        asked.append((p, member))
        return pkg

    out = os.path.join(tmp, "digits")
    rows, stats = [], {}
    real = build_data.source_files
    build_data.source_files = fake_source_files
    err = ""
    try:
        build_data.real_digits(out, rows, os.path.join(out, "debs"), held, stats, "saytime", "usr/share/saytime",
                               "{d}.au", ("-t", "ul", "-r", "8000", "-c", "1"), "en-saytime", "real:saytime",
                               lambda d: f"the word {build_data.WORDS[d]}")
    except subprocess.CalledProcessError as e:
        err = e.stderr.decode(errors="replace")
    finally:
        build_data.source_files = real
    check("sox reads the headerless mu-law files" + (f": {err}" if err else ""), not err)
    check("the package's folder was asked for", asked == [("saytime", "usr/share/saytime")])
    digits = [d for d in range(10) if d != 3]
    want = [(f"words/{build_data.WORDS[d]}/real_en-saytime_{d}.wav", build_data.WORDS[d], "val", "real:saytime",
             "en-saytime", f"the word {build_data.WORDS[d]}") for d in digits]
    check("nine val rows, zero..nine but the held-out three" + ("" if rows == want else f": {rows}"),
          rows == want)
    check("the held-out digit has no clip", not os.path.exists(os.path.join(out, "words", "three")))
    for r in rows:
        with wave.open(os.path.join(out, r[0])) as w:
            fmt = (w.getframerate(), w.getnchannels(), w.getsampwidth())
            x = array.array("h", w.readframes(w.getnframes()))
        if sys.byteorder == "big":
            x.byteswap()
        dur, peak = len(x) / 16000, max(abs(v) for v in x) / 32768
        pad = max(abs(v) for v in x[:3000] + x[-3000:])
        check(f"{r[0]}: 16 kHz mono 16-bit {fmt}, 0.9 s ({dur:.3f}), peak about -3 dBFS ({peak:.3f}), "
              f"silent 0.2 s either side ({pad})",
              fmt == (16000, 1, 2) and abs(dur - 0.9) < 0.01 and 0.63 < peak < 0.8 and pad < 100)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
check.exit()
