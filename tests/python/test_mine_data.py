#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The data builder's mined set (tools/data/mine.py, build_data.py --only-mine)
without network: the keyword rules of tools/data/tables/keyword-rules.tsv on
names that must and must not match; the split rule (a mined file of a class's
held-out val package is val, never train; no group in two splits); and a run
on a generated package (dpkg-deb, sox; skipped with 77 without them) that must
drop the held-out file, copies of a listed file, a second copy of a mined
file, ambiguous names and music, and take the mined files out of the pool."""
import hashlib
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import wave

from clar_testutil import ROOT, SKIP, Checks

DATA = os.path.join(ROOT, "tools", "data")
sys.path.insert(0, DATA)
import mine  # noqa: E402

check = Checks()


TABLES = os.path.join(DATA, "tables")
known = {l.split("\t")[0] for l in open(os.path.join(TABLES, "realsounds-train.tsv"))} - {"class"}
rules, glob_ex = mine.load_rules(os.path.join(TABLES, "keyword-rules.tsv"), known)
check("every class of the rule table is a class of realsounds-train.tsv", set(rules) <= known)

# Names from the packages (or like them) and the class they must get; None:
# no label (unmatched, excluded or ambiguous).
cases = [
    ("wesnoth-1.16-data/usr/share/games/wesnoth/1.16/data/core/sounds/wolf-growl-4.ogg", "canine"),
    ("x-data/usr/share/games/x/sounds/dog_bark01.wav", "canine"),
    ("x-data/usr/share/games/x/sounds/DogBark.ogg", "canine"),
    ("x-data/usr/share/games/x/sounds/dogfight.ogg", None),
    ("x-data/usr/share/games/x/sounds/barking_mad.ogg", None),
    ("x-data/usr/share/games/x/music/dog_theme.ogg", None),
    ("x-data/usr/share/games/x/voices/dog_trainer/bark_order.ogg", None),
    ("x-data/usr/share/games/x/sounds/door_creak.ogg", "door"),
    ("minetest-data/usr/share/games/minetest/games/minetest_game/mods/doors/sounds/doors_glass_door_open.ogg",
     "door"),
    ("x-data/usr/share/games/x/sounds/doorbell.ogg", None),
    ("x-data/usr/share/games/x/sounds/dog_at_door.ogg", None),        # two classes
    ("lincity-ng-data/usr/share/games/lincity-ng/sounds/WindMill2.wav", None),
    ("x-data/usr/share/games/x/sounds/WindowOpen.wav", None),
    ("x-data/usr/share/games/x/sounds/wind_gust_3.ogg", "wind"),
    ("minetest-data/usr/share/games/minetest/games/minetest_game/mods/fire/sounds/fire_fire.2.ogg", "fire"),
    ("minetest-data/usr/share/games/minetest/games/minetest_game/mods/fire/sounds/fire_extinguish_flame.1.ogg",
     None),
    ("x-data/usr/share/games/x/sounds/fireball.ogg", None),
    ("hedgewars-data/usr/share/games/hedgewars/Data/Sounds/hedgehog_squeal.ogg", None),
    ("hedgewars-data/usr/share/games/hedgewars/Data/Sounds/pickhammer.ogg", None),
    ("x-data/usr/share/games/x/sounds/rainbow.ogg", None),
    ("x-data/usr/share/games/x/sounds/rain_heavy.ogg", "rain"),
    ("wesnoth-1.16-data/usr/share/games/wesnoth/1.16/data/core/sounds/human-female-die-2.ogg", "scream_death"),
    ("0ad-audio/audio/actor/fauna/death/death_camel_10.ogg", None),
    ("wesnoth-1.16-data/usr/share/games/wesnoth/1.16/data/core/sounds/thunderstick.ogg", None),
    ("x-data/usr/share/games/x/sounds/elbow_hit.ogg", None),
    ("x-data/usr/share/games/x/sounds/crossbow-fire.ogg", "bow_shot"),
    # The packages added after data version 5 (their false positives).
    ("openarena-data/baseoa/sound/weapons/bfg/bfg_fire.wav", None),
    ("openarena-data/baseoa/sound/weapons/lightning/lg_hit.wav", None),
    ("openarena-data/baseoa/sound/player/footsteps/mech1.wav", None),
    ("openarena-data/baseoa/sound/player/footsteps/boot1.wav", "footsteps"),
    ("openarena-data/baseoa/sound/world/fire1.wav", "fire"),
    ("lugaru-data/usr/share/games/lugaru/Sounds/SwordSlice.ogg", None),
    ("lugaru-data/usr/share/games/lugaru/Sounds/Hawk.ogg", "wild_birds"),
    ("megaglest-data/usr/share/games/megaglest/techs/megapack/factions/romans/units/eagle_pillar/sounds/"
     "eagle_attack1.wav", None),
    ("lugaru-data/usr/share/games/lugaru/Sounds/FootStepSnow1.ogg", "footsteps"),
    ("scorched3d-data/usr/share/games/scorched3d/data/globalmods/none/data/wav/misc/birdchirp3.wav", "wild_birds"),
    ("scorched3d-data/usr/share/games/scorched3d/data/globalmods/apoc/data/wav/explosions/thunder.wav", None),
    ("trigger-rally-data/sounds/codriver/tim/water.wav", None),
    ("trigger-rally-data/sounds/engine.wav", "engine"),
    ("supertux-data/usr/share/games/supertux2/sounds/tree_howling.ogg", None),
    ("supertux-data/usr/share/games/supertux2/sounds/fire-flower.wav", None),
    # Data version 15: pain_grunt and laughter. A "!" pattern reaches past the
    # global "voices" exclusion (Warmux's injured cries), the pack's other
    # voice lines stay out; animals' and monsters' hits are no pain grunts.
    ("warmux-data/usr/share/games/warmux/sound/default/voices/injured_high1.ogg", "pain_grunt"),
    ("warmux-data/usr/share/games/warmux/sound/default/voices/fire1.ogg", None),
    ("warmux-data/usr/share/games/warmux/sound/default/voices/death2.ogg", None),
    ("redeclipse-data/usr/share/games/redeclipse/data/sounds/voice/argh2.ogg", "pain_grunt"),
    ("wesnoth-1.16-data/usr/share/games/wesnoth/1.16/data/core/sounds/dwarf-hit-2.ogg", "pain_grunt"),
    ("wesnoth-1.16-data/usr/share/games/wesnoth/1.16/data/core/sounds/bat-hit-2.ogg", None),
    ("wesnoth-1.16-data/usr/share/games/wesnoth/1.16/data/core/sounds/dwarf-laugh.wav", "laughter"),
    ("openarena-data/baseoa/sound/player/sarge/pain75_1.wav", "pain_grunt"),
    ("openarena-data/baseoa/sound/world/new/painwind22k.wav", None),
    ("trackballs-data/usr/share/games/trackballs/sfx/crazylaugh.wav", "laughter"),
    ("x-data/usr/share/games/x/sounds/slaughter.ogg", None),
    ("tuxpaint-data/usr/share/tuxpaint/sounds/paint1.wav", None),
]
for path, want in cases:
    got, why = mine.classify(path, rules, glob_ex)
    got = got[0] if not why else None
    check(f"{os.path.basename(path)} -> {want} (got {got}, {why or 'one class'})", got == want)
check("tokens split camelCase, digits and separators",
      mine.tokens("a/Sounds/WindMill2-x_y.OGG") == ["a", "sounds", "wind", "mill", "2", "x", "y"])

# Bad tables are refused with the line.
tmp = tempfile.mkdtemp()
try:
    for body, what in (("cat\tmeow\t\tx\n", "unknown class"), ("canine\tDog\t\tx\n", "bad pattern"),
                       ("canine\t\tdog\tx\n", "no include pattern"),
                       ("canine\tdog\t!cat\tx\n", "'!' in an exclude")):
        p = os.path.join(tmp, "r.tsv")
        with open(p, "w") as f:
            f.write("class\tinclude\texclude\tnotes\n" + body)
        try:
            mine.load_rules(p, known)
            check(f"rule table with {what} refused", False)
        except mine.RuleError as e:
            check(f"rule table with {what} refused ({e})", ":2:" in str(e))

    # The split rule. Base: canine holds out package zoo as val (train:
    # farm); door trains on zoo; fire has one package and no val.
    base = [("canine", "train", "farm", "farm:a"), ("canine", "val", "zoo", "zoo:d"),
            ("door", "train", "zoo", "zoo:doors"), ("door", "val-src", "zoo", "zoo:gates"),
            ("fire", "train", "farm", "farm:fire")]
    items = [("canine", "mined:zoo", "zoo:e"), ("canine", "mined:zoo", "zoo:d"),
             ("canine", "mined:park", "park:x"), ("door", "mined:zoo", "zoo:gates"),
             ("door", "mined:zoo", "zoo:doors"), ("fire", "mined:camp", "camp:f"),
             ("fire", "mined:camp", "camp:g"), ("fire", "mined:forge", "forge:h"),
             ("fire", "mined:farm", "farm:fire")]
    sp = mine.assign_splits(items, base)
    check("mined canine of the val package zoo: val, in a new folder too", sp[0] == "val" and sp[1] == "val")
    check("a class with a val package keeps it (a new package is not val)", sp[2] != "val")
    check("mined files of a known folder take its split", sp[3] == "val-src" and sp[4] == "train")
    check("a class without val gets its new package with the fewest clips as val",
          sp[7] == "val" and sp[5] != "val" and sp[6] != "val" and sp[8] == "train")
    # Invariant over many random items: for every class the val package of
    # the base never reaches train, and no (class, group) has two splits.
    import random
    rng = random.Random(3)
    pk = ["zoo", "farm", "park", "camp", "forge"]
    many = [(rng.choice(["canine", "door", "fire", "rain"]), "mined:" + rng.choice(pk), "")
            for _ in range(400)]
    many = [(c, p, p[6:] + ":" + rng.choice("abcdefgh")) for c, p, _ in many]
    def leaks(items, splits):
        """All rows (base and items) and the (class, package) pairs that
        train on a package the class validates on, with the val packages."""
        rows = [(c, s, p, g) for c, s, p, g in base] + [(c, s, p, g) for (c, p, g), s in zip(items, splits)]
        valp = {}
        for c, s, p, g in rows:
            if s == "val":
                valp.setdefault(c, set()).add(p.replace("mined:", ""))
        return rows, [(c, p) for c, s, p, g in rows
                      if s == "train" and p.replace("mined:", "") in valp.get(c, ())], valp

    sp = mine.assign_splits(many, base)
    allrows, leak, _ = leaks(many, sp)
    check(f"no class trains on a package it validates on ({len(leak)} leaks)", not leak)
    gs = {}
    for c, s, p, g in allrows:
        gs.setdefault((c, g), set()).add(s)
    check("no (class, folder) in two splits", all(len(v) == 1 for v in gs.values()))
    check("each split is used", {"train", "val", "val-src"} <= set(sp))

    # The packages added later (new_packages): a class with at least
    # min_val clips from each of two or more of them holds out the smallest
    # of those; otherwise none is val; the first packages' splits do not
    # change.
    first = items
    later = ([("door", "mined:lake", f"lake:{i}") for i in range(6)]
             + [("door", "mined:hill", f"hill:{i}") for i in range(9)]
             + [("door", "mined:tiny", "tiny:a")]
             + [("fire", "mined:lake", f"lake:f{i}") for i in range(7)]
             + [("rain", "mined:lake", "lake:r"), ("rain", "mined:hill", "hill:r")]
             + [("insects", "mined:lake", f"lake:i{i}") for i in range(12)] + [("insects", "mined:hill", "hill:i")]
             + [("canine", "mined:zoo", "zoo:new")])
    sp0 = mine.assign_splits(first, base)
    sp = mine.assign_splits(first + later, base, new_packages=["lake", "hill", "tiny"])
    check("the first packages' splits are the same with new packages mined", sp[:len(first)] == sp0)
    sl = dict(zip([(c, g) for c, p, g in later], sp[len(first):]))
    check("two new packages with >= 5 clips: the smaller is val (door: lake 6, not hill 9 or tiny 1)",
          all(sl[("door", f"lake:{i}")] == "val" for i in range(6))
          and all(sl[("door", f"hill:{i}")] != "val" for i in range(9)) and sl[("door", "tiny:a")] != "val")
    check("one new package: none held out (fire)", all(sl[("fire", f"lake:f{i}")] != "val" for i in range(7)))
    check("no new package with 5 clips: none held out (rain)",
          sl[("rain", "lake:r")] != "val" and sl[("rain", "hill:r")] != "val")
    check("one new package with 5 clips and one smaller: none held out (insects)",
          all(sl[("insects", f"lake:i{i}")] != "val" for i in range(12)) and sl[("insects", "hill:i")] != "val")
    check("the base's val package stays val", sl[("canine", "zoo:new")] == "val")
    many2 = many + [(rng.choice(["canine", "door", "fire", "rain"]), "mined:" + q, q + ":" + rng.choice("abcd"))
                    for q in rng.choices(["lake", "hill", "tiny"], k=300)]
    sp = mine.assign_splits(many2, base, new_packages=["lake", "hill", "tiny"])
    allrows, leak, valp = leaks(many2, sp)
    check(f"with new packages, no class trains on a package it validates on ({len(leak)} leaks)", not leak)
    check("with new packages, some class validates on a new one",
          any(p in ("lake", "hill", "tiny") for v in valp.values() for p in v))

    # The packages added last (late_packages, data version 14): no earlier
    # clip changes split; a class with min_val clips from a late package and
    # two or more earlier packages it trains on holds that package out.
    late = ([("door", "mined:cliff", f"cliff:d{i % 2}") for i in range(6)]
            + [("door", "mined:dune", "dune:d")]
            + [("wind", "mined:cliff", f"cliff:w{i % 3}") for i in range(8)]
            + [("insects", "mined:dune", f"dune:i{i}") for i in range(4)]
            + [("canine", "mined:cliff", "cliff:c")])
    np3 = ["lake", "hill", "tiny"]
    sp1 = mine.assign_splits(first + later, base, new_packages=np3)
    sp = mine.assign_splits(first + later + late, base, new_packages=np3, late_packages=["cliff", "dune"])
    check("the earlier packages' splits are the same with late packages mined",
          sp[:len(first) + len(later)] == sp1)
    sl = dict(zip([(c, g) for c, p, g in late], sp[len(first) + len(later):]))
    check("a late package with >= 5 clips of a class that trains on 2 earlier packages: val (door: cliff)",
          all(sl[("door", f"cliff:d{i}")] == "val" for i in range(2)) and sl[("door", "dune:d")] != "val")
    check("a class that trains on no earlier package keeps its late clips (wind)",
          all(sl[("wind", f"cliff:w{i}")] != "val" for i in range(3)))
    check("a late package with fewer than 5 clips of a class: not val (insects)",
          all(sl[("insects", f"dune:i{i}")] != "val" for i in range(4)))
    check("late clips of a class's val package name are not val by that name (canine: cliff 1 clip)",
          sl[("canine", "cliff:c")] != "val")
    many3 = many2 + [(rng.choice(["canine", "door", "fire", "rain"]), "mined:" + q, q + ":" + rng.choice("abcd"))
                     for q in rng.choices(["cliff", "dune"], k=200)]
    sp3 = mine.assign_splits(many3, base, new_packages=np3, late_packages=["cliff", "dune"])
    check("with late packages, the earlier items keep their splits",
          sp3[:len(many2)] == mine.assign_splits(many2, base, new_packages=np3))
    allrows, leak, valp = leaks(many3, sp3)
    check(f"with late packages, no class trains on a package it validates on ({len(leak)} leaks)", not leak)
    check("with late packages, some class validates on a late one",
          any(p in ("cliff", "dune") for v in valp.values() for p in v))

    # A run on a generated package.
    if not (shutil.which("sox") and shutil.which("dpkg-deb")):
        print("no sox or dpkg-deb: the run on a generated package is skipped")
        sys.exit(1 if check.fails else SKIP)

    def tone(path, hz, rate=16000):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with wave.open(path, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / rate)))
                                   for i in range(rate * 3 // 10)))

    def build_deb(root, name, debs):
        """Packs the folder ROOT as DEBS/NAME_1.0_all.deb (a control file added)."""
        os.makedirs(os.path.join(root, "DEBIAN"))
        with open(os.path.join(root, "DEBIAN", "control"), "w") as f:
            f.write(f"Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@t>\n"
                    "Description: test\n test\n")
        os.makedirs(debs, exist_ok=True)
        subprocess.run(["dpkg-deb", "-b", "-Zgzip", root, os.path.join(debs, f"{name}_1.0_all.deb")],
                       check=True, stdout=subprocess.DEVNULL)

    pkg = os.path.join(tmp, "pkg")
    snd = "usr/share/games/minetest/games/minetest_game/mods"
    listed = f"{snd}/doors/sounds/doors_door_open.ogg"      # a file of realsounds-train.tsv
    files = {"dog_bark1.wav": 300, "wolf_howl.wav": 350, "dogfight.wav": 400, "door_creak.wav": 450,
             "dog_door.wav": 500, "rain_loop.wav": 550}
    for name, hz in files.items():
        # The held-out file at 22.05 kHz: its converted clip differs from it,
        # so only the check of the packaged file's md5 can drop it.
        tone(os.path.join(pkg, snd, "zoo/sounds", name), hz, 22050 if name == "wolf_howl.wav" else 16000)
    tone(os.path.join(pkg, snd, "zoo/music/dog_theme.wav"), 600)
    tone(os.path.join(pkg, listed), 650)
    shutil.copy(os.path.join(pkg, listed), os.path.join(pkg, snd, "zoo/sounds/door_slam.wav"))
    shutil.copy(os.path.join(pkg, snd, "zoo/sounds/dog_bark1.wav"), os.path.join(pkg, snd, "zoo/sounds/dog_bark2.wav"))
    debs = os.path.join(tmp, "debs")
    build_deb(pkg, "minetest-data", debs)
    held = os.path.join(tmp, "heldout.txt")
    with open(held, "w") as f:
        f.write(hashlib.md5(open(os.path.join(pkg, snd, "zoo/sounds/wolf_howl.wav"), "rb").read()).hexdigest() + "\n")
    # The base: canine holds out minetest-data; door trains on it (the zoo
    # folder is new, so the hash rule places it); rain has no val package. A
    # pool file that the mining takes must leave the pool.
    b = os.path.join(tmp, "base")
    os.makedirs(os.path.join(b, "unlabelled", "minetest-data"))
    grp = "minetest-data:minetest-data/" + snd
    base_rows = [("sounds/canine/a.wav", "canine", "train", "wesnoth-1.16-data", "wesnoth-1.16-data:w", "c"),
                 ("sounds/canine/b.wav", "canine", "val", "minetest-data", grp + "/dogs/sounds", "c"),
                 ("sounds/door/c.wav", "door", "train", "minetest-data", grp + "/doors/sounds", "c"),
                 ("sounds/rain/d.wav", "rain", "train", "megaglest-data", "megaglest-data:r", "c"),
                 ("words/yes/e.wav", "yes", "train", "espeak:en", "en", "c")]
    with open(os.path.join(b, "manifest.tsv"), "w") as f:
        f.write("path\tlabel\tsplit\tsource\tgroup\tcaption\n")
        for r in base_rows:
            f.write("\t".join(r) + "\n")
    with open(os.path.join(b, "unlabelled.tsv"), "w") as f:
        f.write("path\tpackage\tmember\n")
        for i, m in enumerate(("zoo/sounds/door_creak.wav", "zoo/sounds/dogfight.wav")):
            tone(os.path.join(b, "unlabelled", "minetest-data", f"{i}.wav"), 700 + i)
            f.write(f"unlabelled/minetest-data/{i}.wav\tminetest-data\t{snd}/{m}\n")
    out = os.path.join(tmp, "out")
    r = subprocess.run([sys.executable, os.path.join(DATA, "build_data.py"), "--only-mine", "--out", out,
                        "--base", b, "--debs", debs, "--mine-packages", "minetest-data", "--heldout", held],
                       capture_output=True, text=True)
    check("build_data.py --only-mine exits 0", r.returncode == 0)
    if r.returncode:
        print(r.stderr)
        sys.exit(1)
    rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(out, "manifest-mined.tsv"))]
    got = {(r[1], r[5].split(", ")[-1].rstrip(")")) for r in rows}
    check(f"mined exactly dog_bark1 (canine), door_creak (door), rain_loop (rain): {sorted(got)}",
          got == {("canine", "dog_bark1.wav"), ("door", "door_creak.wav"), ("rain", "rain_loop.wav")})
    split = {r[1]: r[2] for r in rows}
    check("canine from its held-out package is val", split.get("canine") == "val")
    check("rain, a class without val, gets its new package as val", split.get("rain") == "val")
    check("sources are mined:<package>", all(r[3] == "mined:minetest-data" for r in rows))
    check("clips are 16 kHz WAV files", all(wave.open(os.path.join(out, r[0])).getframerate() == 16000
                                            for r in rows))
    ver = dict(l.rstrip("\n").split("\t") for l in open(os.path.join(out, "VERSION.tsv")))
    check("held-out file dropped, counted", ver.get("heldout_removed") == "1")
    check("second copy of a mined file dropped (md5)", ver.get("mined_duplicates") == "1")
    check("copy of a realsounds-train.tsv file dropped (md5)", ver.get("mined_copies_of_listed") == "1")
    check("ambiguous name counted", ver.get("mined_ambiguous") == "1")
    check("data version 4", ver.get("data_version") == "4")
    hl = {l.strip() for l in open(held)}
    check("no mined clip is held out", not any(mine_md5 in hl for mine_md5 in
                                                (hashlib.md5(open(os.path.join(out, r[0]), "rb").read()).hexdigest()
                                                 for r in rows)))
    man = [l.rstrip("\n").split("\t") for l in open(os.path.join(out, "manifest.tsv"))][1:]
    check("manifest = base rows (absolute paths) + mined rows",
          len(man) == len(base_rows) + len(rows) and all(os.path.isabs(m[0]) for m in man[:len(base_rows)])
          and man[0][0] == os.path.join(b, "sounds/canine/a.wav"))
    pool = [l.rstrip("\n").split("\t") for l in open(os.path.join(out, "unlabelled.tsv"))][1:]
    check("the mined file left the pool, the other stays (a link to the base pool)",
          [p[2].rsplit("/", 1)[1] for p in pool] == ["dogfight.wav"]
          and os.path.islink(os.path.join(out, pool[0][0]))
          and not os.path.exists(os.path.join(out, "unlabelled/minetest-data/0.wav")))
    review = open(os.path.join(out, "mined-review.tsv")).read()
    check("review lists counts and samples per class", "count\tcanine\tminetest-data\t0\t1\t0" in review
          and "sample\tdoor\t" in review and "ambiguous\tcanine+door\t" in review)
    # A rerun with the same output is the same.
    r2 = subprocess.run([sys.executable, os.path.join(DATA, "build_data.py"), "--only-mine", "--out", out,
                         "--base", b, "--debs", debs, "--mine-packages", "minetest-data", "--heldout", held],
                        capture_output=True, text=True)
    check("rerun: mined set already built", r2.returncode == 0 and "already built" in r2.stderr)
    # A rebuild drops a pool link of an earlier run that is now mined.
    os.symlink(os.path.join(b, "unlabelled/minetest-data/0.wav"),
               os.path.join(out, "unlabelled/minetest-data/0.wav"))
    os.remove(os.path.join(out, ".done-mined"))
    r3 = subprocess.run([sys.executable, os.path.join(DATA, "build_data.py"), "--only-mine", "--out", out,
                         "--base", b, "--debs", debs, "--mine-packages", "minetest-data", "--heldout", held],
                        capture_output=True, text=True)
    check("rebuild: a stale pool link of a mined file is removed",
          r3.returncode == 0 and sorted(os.listdir(os.path.join(out, "unlabelled/minetest-data"))) == ["1.wav"])
    # A package whose audio ships in a zip (build_data.MINE_ZIPS: OpenArena's
    # pak0.pk3), found in a second --debs folder; a new package (train or
    # val-src, one package of its class).
    import zipfile
    oa = os.path.join(tmp, "oa")
    pk3 = os.path.join(oa, "usr/share/games/openarena/baseoa/pak0.pk3")
    os.makedirs(os.path.dirname(pk3))
    tone(os.path.join(tmp, "w.wav"), 800)
    tone(os.path.join(tmp, "g.wav"), 850)
    with zipfile.ZipFile(pk3, "w") as z:
        z.write(os.path.join(tmp, "w.wav"), "sound/world/wind1.wav")
        z.write(os.path.join(tmp, "g.wav"), "sound/weapons/bfg/bfg_fire.wav")
    debs2 = os.path.join(tmp, "debs2")
    build_deb(oa, "openarena-data", debs2)
    out2 = os.path.join(tmp, "out2")
    r4 = subprocess.run([sys.executable, os.path.join(DATA, "build_data.py"), "--only-mine", "--out", out2,
                         "--base", b, "--debs", debs, "--debs", debs2, "--mine-packages",
                         "minetest-data,openarena-data", "--heldout", held], capture_output=True, text=True)
    check("build_data.py --only-mine with two --debs folders exits 0", r4.returncode == 0)
    rows4 = [l.rstrip("\n").split("\t") for l in open(os.path.join(out2, "manifest-mined.tsv"))] \
        if r4.returncode == 0 else []
    oa_rows = [r for r in rows4 if r[3] == "mined:openarena-data"]
    check(f"the zip's wind1.wav mined as wind of openarena-data, bfg_fire left out: {oa_rows}",
          [(r[1], r[4]) for r in oa_rows] == [("wind", "openarena-data:openarena-data/baseoa/sound/world")]
          and oa_rows[0][2] in ("train", "val-src"))
    check("the minetest-data clips are as before", {(r[1], r[2]) for r in rows4 if r[3] == "mined:minetest-data"}
          == {(r[1], r[2]) for r in rows})
    # A package of data version 15 (build_data.MINE_V15_PACKAGES) gives
    # laughter and pain_grunt clips only: its fire is not taken; a "!"
    # pattern reaches into its voices/ folder, the spoken line stays out.
    zz = os.path.join(tmp, "zz")
    for name, hz in (("ouch.wav", 900), ("fire_loop.wav", 950), ("voices/injured_1.wav", 1000),
                     ("voices/hello.wav", 1050)):
        tone(os.path.join(zz, "usr/share/games/zaz", name), hz)
    build_deb(zz, "zaz-data", debs2)
    out3 = os.path.join(tmp, "out3")
    r5 = subprocess.run([sys.executable, os.path.join(DATA, "build_data.py"), "--only-mine", "--out", out3,
                         "--base", b, "--debs", debs2, "--mine-packages", "zaz-data", "--heldout", held],
                        capture_output=True, text=True)
    rows5 = [l.rstrip("\n").split("\t") for l in open(os.path.join(out3, "manifest-mined.tsv"))] \
        if r5.returncode == 0 else []
    got5 = sorted((r[1], r[5].split(", ")[-1].rstrip(")")) for r in rows5)
    check(f"a version 15 package: ouch and voices/injured_1 as pain_grunt, no fire: {got5}",
          got5 == [("pain_grunt", "injured_1.wav"), ("pain_grunt", "ouch.wav")])
    ver5 = dict(l.rstrip("\n").split("\t") for l in open(os.path.join(out3, "VERSION.tsv"))) \
        if r5.returncode == 0 else {}
    check("its match of another class is counted, not mined", ver5.get("mined_v15_other") == "1")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
check.exit()
