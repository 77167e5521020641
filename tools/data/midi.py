#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Standard MIDI files for fluidsynth renders.

As a program: midi.py OUT.mid PROGRAM PITCH VELOCITY SECONDS writes one note
(program 0-127 as General MIDI, e.g. 73 = flute; pitch 60 = C4). As a module:
midi_bytes(program, notes, note_s, gap_s) for a sequence of notes."""
import struct
import sys


def vlq(n):
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.insert(0, (n & 0x7F) | 0x80)
        n >>= 7
    return bytes(out)


def midi_bytes(program, notes, note_s, gap_s):
    """One track at 120 bpm, 480 ticks per quarter (960 ticks/s): a program
    change, then each (pitch, velocity) held note_s seconds, gap_s apart,
    and gap_s of release at the end."""
    ev = vlq(0) + bytes([0xC0, int(program) & 0x7F])
    for i, (p, v) in enumerate(notes):
        ev += vlq(0 if i == 0 else int(gap_s * 960)) + bytes([0x90, int(p), int(v)])
        ev += vlq(int(note_s * 960)) + bytes([0x80, int(p), 0])
    ev += vlq(int(gap_s * 960)) + b"\xFF\x2F\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(ev)) + ev


def main(out, program, pitch, velocity, seconds):
    with open(out, "wb") as f:
        f.write(midi_bytes(program, [(pitch, velocity)], float(seconds), 0.5))


if __name__ == "__main__":
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(*sys.argv[1:])
