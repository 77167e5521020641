#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every model this repository ships (models/*.safetensors and
models/pretrained/) records the clips it and its text tower trained on
(clar-train writes the first 16 hex digits of each file's MD5 under
clar.training_clips_md5 and clar.text.training_clips_md5, merged with those
of its --init model), and none of them is a held-out file of
tools/data/tables/heldout-md5.txt: the maintainers score the default on
those, so a model that had heard one would overstate itself. The default
must carry the encoder's list (a model without it cannot be checked).
This catches a held-out file trained on as it is; a clip converted or
cut from one has another MD5, and the data builder's own checks (by the
source file's MD5, soundfonts and patch sets included) cover those. Reads the safetensors header only: no numpy, no build."""
import glob
import os
import re

from clar_testutil import ROOT, Checks, safetensors_metadata

check = Checks()
HEX16 = re.compile(r"^[0-9a-f]{16}$")


held = set()
with open(os.path.join(ROOT, "tools", "data", "tables", "heldout-md5.txt")) as f:
    for line in f:
        word = line.split("#", 1)[0].split()
        if word:
            held.add(word[0].lower()[:16])
check(f"the held-out list is read ({len(held)} sums)", len(held) > 1000)

default = os.path.join(ROOT, "models", "clar-default.safetensors")
models = sorted(glob.glob(os.path.join(ROOT, "models", "*.safetensors")) +
                glob.glob(os.path.join(ROOT, "models", "pretrained", "*.safetensors")))
for path in models:
    name = os.path.relpath(path, ROOT)
    md = safetensors_metadata(path)
    for key in ("clar.training_clips_md5", "clar.text.training_clips_md5"):
        clips = [c for c in md.get(key, "").split(",") if c]
        if path == default and key == "clar.training_clips_md5":
            check(f"{name}: {key} lists its clips ({len(clips)})", len(clips) > 1000)
        if not clips:
            continue
        check(f"{name}: {key} is 16-hex-digit sums", all(HEX16.match(c) for c in clips))
        bad = sorted(held.intersection(clips))
        who = "text tower" if ".text." in key else "encoder"
        check(f"{name}: none of its {len(clips)} {who} training clips is held out"
              + (f" (held out: {', '.join(bad[:5])})" if bad else ""), not bad)
check.exit()
