#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The shipped default's head names every class of the label sets the
project documents: each of the 28 real sound-effect classes of
tools/data/tables/realsounds-train.tsv and each instrument family of
tools/data/tables/gm-families.tsv. A class the head lacks is wrong on every
clip of it by construction (the defaults of 2026-12-01 to 2026-12-06 lacked
pain_grunt and laughter when the held-out list took all their clips), so a
model that drops one must not ship unnoticed. Reads the safetensors header
only: no numpy, no build."""
import json
import os

from clar_testutil import ROOT, Checks, safetensors_metadata

check = Checks()
tables = os.path.join(ROOT, "tools", "data", "tables")


def column(name, col):
    with open(os.path.join(tables, name), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip() and not line.startswith("#")]
    return {r[col] for r in rows[1:]}


default = os.path.join(ROOT, "models", "clar-default.safetensors")
if not os.path.exists(default):
    print("no trained model in models/: skipped")
    raise SystemExit(77)
labels = json.loads(safetensors_metadata(default)["clar.labels"])
check(f"the default's {len(labels)} labels are distinct", len(set(labels)) == len(labels))
effects = column("realsounds-train.tsv", 0)
check(f"realsounds-train.tsv has its 28 classes ({len(effects)})", len(effects) == 28)
missing = sorted(effects - set(labels))
check("the head names every effect class of realsounds-train.tsv"
      + (f" (lacks {', '.join(missing)})" if missing else ""), not missing)
families = column("gm-families.tsv", 1)
check(f"gm-families.tsv has its 11 families ({len(families)})", len(families) == 11)
missing = sorted(families - set(labels))
check("the head names every instrument family of gm-families.tsv"
      + (f" (lacks {', '.join(missing)})" if missing else ""), not missing)
check.exit()
