#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The packed archive readers (tools/data/packed.py) and the data builder's
`packed` set, without network: an OpenTTD sound catalogue and Qt resource
files written here (stored and zlib-compressed entries, nested folders) read
back byte for byte; truncated, foreign, looping and zstd archives refused
with ValueError; then packed_set on generated packages named as the real
ones and holding every entry of tables/packed-effects.tsv, which must take
each listed entry under its class, drop an entry whose bytes are held out,
refuse an entry whose title moved, and skip a whole archive whose file is
held out. Without sox and dpkg-deb (or with either package installed,
which the builder would read instead) the packed_set part is left out and
the readers' checks alone decide."""
import hashlib
import io
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import wave
import zlib

from clar_testutil import ROOT, Checks

DATA = os.path.join(ROOT, "tools", "data")
sys.path.insert(0, DATA)
import packed  # noqa: E402

check = Checks()


def wav_bytes(hz, rate=22050, secs=0.4):
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / rate)))
                               for i in range(int(rate * secs))))
    return buf.getvalue()


def write_cat(path, entries):
    """entries: (title, bytes) pairs, as OpenTTD's .cat stores them."""
    table = 8 * len(entries)
    body, offs = b"", []
    for title, data in entries:
        t = title.encode("latin-1") + b"\0"
        blob = bytes([len(t)]) + t + data
        offs.append((table + len(body), len(blob)))
        body += blob
    with open(path, "wb") as f:
        f.write(b"".join(struct.pack("<II", o, n) for o, n in offs) + body)


def write_rcc(path, files, compress=(), zstd=(), loop=False):
    """files: {"/a/b.wav": bytes}; a version-2 .rcc with a node per folder."""
    tree = {"": {}}
    for p in files:
        parts = p.strip("/").split("/")
        d = tree[""]
        for q in parts[:-1]:
            d = d.setdefault(q, {})
        d[parts[-1]] = p
    nodes, names, data = [], b"", b""

    def name_off(n):
        nonlocal names
        off = len(names)
        names += struct.pack(">HI", len(n), 0) + n.encode("utf-16-be")
        return off

    # Breadth-first, so that a folder's children are contiguous.
    nodes.append(["dir", 0, None])
    queue = [(0, tree[""])]
    while queue:
        idx, d = queue.pop(0)
        first = len(nodes)
        nodes[idx][2] = (len(d), first)
        for k in sorted(d):
            if isinstance(d[k], dict):
                nodes.append(["dir", name_off(k), None])
                queue.append((len(nodes) - 1, d[k]))
            else:
                p = d[k]
                blob = files[p]
                flags = 0
                if p in compress:
                    blob, flags = struct.pack(">I", len(blob)) + zlib.compress(blob), 1
                if p in zstd:
                    flags = 4
                nodes.append(["file", name_off(k), (flags, len(data))])
                data += struct.pack(">I", len(blob)) + blob
    tree_b = b""
    for i, (kind, noff, v) in enumerate(nodes):
        if kind == "dir":
            count, first = v
            tree_b += struct.pack(">IHII", noff, 2, count, 0 if (loop and i == 0) else first) + b"\0" * 8
        else:
            flags, doff = v
            tree_b += struct.pack(">IHHHI", noff, flags, 0, 0, doff) + b"\0" * 8
    hdr = 20
    with open(path, "wb") as f:
        f.write(b"qres" + struct.pack(">IIII", 2, hdr, hdr + len(tree_b), hdr + len(tree_b) + len(data))
                + tree_b + data + names)


def raises(fn, *a):
    try:
        fn(*a)
    except ValueError:
        return True
    return False


tmp = tempfile.mkdtemp()
try:
    a, b2, c = wav_bytes(300), wav_bytes(500), wav_bytes(700)
    cat = os.path.join(tmp, "t.cat")
    write_cat(cat, [('"One". By someone.', a), ('"Two"', b2)])
    got = packed.read_cat(cat)
    check(".cat: titles and WAV bytes read back", got == [('"One". By someone.', a), ('"Two"', b2)])
    raw = open(cat, "rb").read()
    open(cat, "wb").write(raw[:-100])
    check(".cat: a truncated catalogue is refused", raises(packed.read_cat, cat))
    open(cat, "wb").write(struct.pack("<II", 7, 3) + b"x" * 20)
    check(".cat: a table length that is no multiple of 8 is refused", raises(packed.read_cat, cat))
    open(cat, "wb").write(b"")
    check(".cat: an empty file is refused", raises(packed.read_cat, cat))

    rcc = os.path.join(tmp, "t.rcc")
    files = {"/g/x/a.wav": a, "/g/x/b.ogg": b2, "/g/y/c.wav": c}
    write_rcc(rcc, files, compress=("/g/x/b.ogg",))
    check(".rcc: every file read back, stored and zlib-compressed", packed.read_rcc(rcc) == files)
    raw = open(rcc, "rb").read()
    open(rcc, "wb").write(raw[:len(raw) // 2])
    check(".rcc: a truncated resource file is refused", raises(packed.read_rcc, rcc))
    open(rcc, "wb").write(b"RIFF" + raw[4:])
    check(".rcc: a file without the qres magic is refused", raises(packed.read_rcc, rcc))
    write_rcc(rcc, files, zstd=("/g/y/c.wav",))
    check(".rcc: a zstd-compressed entry is refused, not returned raw", raises(packed.read_rcc, rcc))
    write_rcc(rcc, files, loop=True)
    check(".rcc: a tree whose folder contains itself is refused", raises(packed.read_rcc, rcc))

    if not (shutil.which("sox") and shutil.which("dpkg-deb") and shutil.which("dpkg-query")):
        print("no sox or dpkg-deb: the packed set on generated packages is skipped")
        check.exit()
    import build_data  # noqa: E402

    table = [l.rstrip("\n").split("\t") for l in open(os.path.join(DATA, "tables", "packed-effects.tsv"))
             if l.strip() and not l.startswith("#")][1:]
    pkgs = {}
    for pkg, member, entry, label, note in table:
        pkgs.setdefault(pkg, {}).setdefault(member, []).append((entry, label, note))
    for pkg in pkgs:
        if subprocess.run(["dpkg-query", "-W", pkg], capture_output=True).returncode == 0:
            print(f"{pkg} is installed (the builder would read it): the packed set part is skipped")
            check.exit()

    def build(moved=None, held_entry=None, held_archive=None):
        """Generated packages for every table entry, the named entry retitled
        or its bytes (or the named archive) held out; returns (out, debs,
        heldout)."""
        root = tempfile.mkdtemp(dir=tmp)
        debs = os.path.join(root, "debs")
        os.makedirs(debs)
        payload = {}
        archive_md5 = {}
        for k, (pkg, members) in enumerate(sorted(pkgs.items())):
            proot = os.path.join(root, "pkg-" + pkg)
            for m, entries in members.items():
                os.makedirs(os.path.dirname(os.path.join(proot, m)), exist_ok=True)
                if m.endswith(".cat"):
                    n = max(int(e) for e, _, _ in entries) + 1
                    cat_entries = [(f'"Filler {i}"', wav_bytes(200 + i)) for i in range(n)]
                    for e, _, note in entries:
                        title = note.split('"')[1]
                        if moved == e:
                            title = "Something else"
                        cat_entries[int(e)] = (f'"{title}". By a recordist.', wav_bytes(300 + 7 * int(e)))
                        payload[(pkg, m, e)] = hashlib.md5(cat_entries[int(e)][1]).hexdigest()
                    write_cat(os.path.join(proot, m), cat_entries)
                else:
                    fs = {}
                    for j, (e, _, _) in enumerate(entries):
                        fs[e] = wav_bytes(900 + 11 * j + 50 * k)
                        payload[(pkg, m, e)] = hashlib.md5(fs[e]).hexdigest()
                    fs["/other/unused.wav"] = wav_bytes(123)
                    write_rcc(os.path.join(proot, m), fs, compress=tuple(list(fs)[:1]))
                archive_md5[(pkg, m)] = build_data.md5(os.path.join(proot, m))
            os.makedirs(os.path.join(proot, "DEBIAN"))
            with open(os.path.join(proot, "DEBIAN", "control"), "w") as f:
                f.write(f"Package: {pkg}\nVersion: 9.9\nArchitecture: all\nMaintainer: t <t@t>\n"
                        "Description: test\n test\n")
            subprocess.run(["dpkg-deb", "-b", "-Zgzip", proot, os.path.join(debs, f"{pkg}_9.9_all.deb")],
                           check=True, stdout=subprocess.DEVNULL)
        heldout = set()
        if held_entry:
            heldout.add(payload[held_entry])
        if held_archive:
            heldout.add(archive_md5[held_archive])
        out = os.path.join(root, "out")
        os.makedirs(out)
        return out, debs, heldout

    def run(**kw):
        out, debs, heldout = build(**kw)
        rows, stats = [], {}
        build_data.packed_set(out, rows, debs, heldout, stats)
        return out, rows, stats

    out, rows, stats = run()
    check(f"every table entry becomes a clip ({len(rows)} of {len(table)})", len(rows) == len(table))
    want = sorted((label, f"{pkg}/{m}/{e}") for pkg, m, e, label, _ in table)
    check("each clip has its entry's class", sorted((r[1], r[4]) for r in rows) == want)
    check("rows are train, source packed:PKG, files under packed/CLASS/",
          all(r[2] == "train" and r[3].startswith("packed:") and r[0].startswith(f"packed/{r[1]}/")
              for r in rows))
    fmt = set()
    for r in rows:
        with wave.open(os.path.join(out, r[0])) as w:
            fmt.add((w.getnchannels(), w.getsampwidth(), w.getframerate()))
    check("clips are 16 kHz mono 16-bit WAV (converted from 22.05 kHz)", fmt == {(1, 2, 16000)})
    check("no temporary folder is left", not os.path.exists(os.path.join(out, "tmp-packed")))

    cat_rows = [t for t in table if t[1].endswith(".cat")]
    rcc_rows = [t for t in table if t[1].endswith(".rcc")]
    e0 = (cat_rows[0][0], cat_rows[0][1], cat_rows[0][2])
    out, rows, stats = run(held_entry=e0)
    check("an entry whose bytes are held out is dropped, the others kept",
          len(rows) == len(table) - 1 and f"{e0[0]}/{e0[1]}/{e0[2]}" not in {r[4] for r in rows}
          and stats.get("heldout_removed") == 1)
    out, rows, stats = run(moved=cat_rows[1][2])
    check("an entry whose title moved is refused, not mislabelled",
          len(rows) == len(table) - 1 and stats.get("packed_missing") == 1
          and f"{cat_rows[1][0]}/{cat_rows[1][1]}/{cat_rows[1][2]}" not in {r[4] for r in rows})
    arc = (rcc_rows[0][0], rcc_rows[0][1])
    n_arc = sum(1 for t in table if (t[0], t[1]) == arc)
    out, rows, stats = run(held_archive=arc)
    check("an archive whose file is held out gives no clip at all",
          len(rows) == len(table) - n_arc and not any(r[4].startswith(f"{arc[0]}/{arc[1]}/") for r in rows)
          and stats.get("heldout_sources") == 1)
finally:
    shutil.rmtree(tmp, ignore_errors=True)

check.exit()
