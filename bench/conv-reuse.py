#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench/conv-reuse.py: what reusing convolution activations between
# overlapping windows could save in the default encoder (bench/README.md,
# "Compute once per hop"). Pure arithmetic on the layer shapes; no timing.
# Which conv outputs of window B (window A shifted by `hop` mel frames) equal
# outputs of window A in the default encoder (3x3 convs, zero padding 1,
# 2x2 max pooling after the first three): an output is shared when every mel
# frame it depends on is a frame the two windows share (no reflect padding,
# no conv zero padding in its receptive field) and the shift is a whole
# number of columns at its layer (pooling halves it; an odd shift breaks the
# pooling pairs). Prints the FLOPs such reuse would save.
def analyse(T=101, hop=50, edge=2, nmel=64):
    lo, hi = edge, T - 1 - edge - hop   # B's mel frames equal to A's
    layers = [(1, 16), (16, 32), (32, 64), (64, 128)]
    H, W = nmel, T
    rf = [(t, t) for t in range(W)]     # receptive interval per column, None = touches padding
    shift = hop
    total = saved = 0
    out = []
    for li, (C, O) in enumerate(layers):
        new = []
        for j in range(W):
            if j == 0 or j == W - 1 or None in (rf[j - 1], rf[j], rf[j + 1]):
                new.append(None)
            else:
                new.append((rf[j - 1][0], rf[j + 1][1]))
        rf = new
        fl = 2 * O * C * 9 * H
        n = sum(1 for c in rf if c and shift is not None and lo <= c[0] and c[1] <= hi)
        total += fl * W
        saved += fl * n
        out.append(f"conv{li+1} {n}/{W}")
        if li < 3:
            rf = [None if (rf[2*v] is None or rf[2*v+1] is None) else (rf[2*v][0], rf[2*v+1][1])
                  for v in range(W // 2)]
            shift = shift // 2 if shift is not None and shift % 2 == 0 else None
            W //= 2
            H //= 2
    print(f"hop {hop} frames ({hop*0.01:.2f} s): shared columns {', '.join(out)}; "
          f"{saved/1e6:.2f} of {total/1e6:.2f} MFLOP = {100*saved/total:.1f}%")
for hop in (50, 48, 56, 64, 32, 25):
    analyse(hop=hop)
