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


def midi_bytes(program, notes, note_s, gap_s, lengths=None):
    """One track at 120 bpm, 480 ticks per quarter (960 ticks/s): a program
    change, then each (pitch, velocity) in its own slot of note_s + gap_s
    seconds, held lengths[i] seconds (default note_s), and gap_s of release
    at the end. Slots stay aligned whatever the lengths, so note i starts at
    i * (note_s + gap_s) s."""
    ev = vlq(0) + bytes([0xC0, int(program) & 0x7F])
    slot = int((note_s + gap_s) * 960)
    rest = 0
    for i, (p, v) in enumerate(notes):
        held = int((lengths[i] if lengths else note_s) * 960)
        ev += vlq(rest) + bytes([0x90, int(p), int(v)])
        ev += vlq(held) + bytes([0x80, int(p), 0])
        rest = slot - held
    ev += vlq(int(gap_s * 960)) + b"\xFF\x2F\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(ev)) + ev


def midi_blocks(blocks, note_s, gap_s):
    """Several programs in one file: blocks is a list of (program, notes,
    lengths); every note has its own slot of note_s + gap_s seconds, so
    note j of the whole file starts at j * (note_s + gap_s) s, and each
    block starts with its program change. Rendering a whole sound source in
    one run loads its soundfont once."""
    ev = b""
    slot = int((note_s + gap_s) * 960)
    rest = 0
    for program, notes, lengths in blocks:
        ev += vlq(rest) + bytes([0xC0, int(program) & 0x7F])
        rest = 0
        for i, (p, v) in enumerate(notes):
            held = int((lengths[i] if lengths else note_s) * 960)
            ev += vlq(rest) + bytes([0x90, int(p), int(v)])
            ev += vlq(held) + bytes([0x80, int(p), 0])
            rest = slot - held
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
