#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Write a one-note Standard MIDI File: midi-note.py OUT.mid PROGRAM PITCH VELOCITY SECONDS
(program 0-127 as General MIDI, e.g. 73 = flute; pitch 60 = C4)."""
import struct
import sys


def vlq(n):
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.insert(0, (n & 0x7F) | 0x80)
        n >>= 7
    return bytes(out)


def main(out, program, pitch, velocity, seconds):
    tpq = 480                      # ticks per quarter; 120 bpm -> 960 ticks/s
    ticks = int(float(seconds) * 960)
    ch = 9 if int(program) < 0 else 0
    ev = b"".join([
        vlq(0), bytes([0xC0 | ch, int(program) & 0x7F]),
        vlq(0), bytes([0x90 | ch, int(pitch), int(velocity)]),
        vlq(ticks), bytes([0x80 | ch, int(pitch), 0]),
        vlq(480), b"\xFF\x2F\x00",   # a little release tail, end of track
    ])
    with open(out, "wb") as f:
        f.write(b"MThd" + struct.pack(">IHHH", 6, 0, 1, tpq))
        f.write(b"MTrk" + struct.pack(">I", len(ev)) + ev)


if __name__ == "__main__":
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(*sys.argv[1:])
