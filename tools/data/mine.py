# SPDX-License-Identifier: LGPL-2.1-or-later
"""Keyword-rule mining of labelled sound-effect clips (build_data.py's
"mined" set; standard library only).

Every audio file of the effect packages is named by its package path, e.g.
"wesnoth-1.16-data/usr/share/games/wesnoth/1.16/data/core/sounds/dog-bark.ogg"
(0ad's files, which ship inside a zip, as "0ad-audio/audio/..."; the naming of
tables/realsounds-train.tsv). The path is cut into lower-case tokens (at
non-alphanumerics, camelCase and letter/digit boundaries) and matched against
tables/keyword-rules.tsv: a file that matches exactly one class's include
patterns and none of its (or the global "*" row's) exclude patterns is a
labelled clip of that class. The labels come from names alone: nobody listened
to the files (see the review listing the build writes).
"""
import fnmatch
import hashlib
import os
import re


def tokens(path):
    """Lower-case tokens of a path without its extension: 'Sounds/WindMill2.wav'
    -> ['sounds', 'wind', 'mill', '2']."""
    s = os.path.splitext(path)[0]
    s = re.sub(r"([a-z])([A-Z])", r"\1 \2", s)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", s)
    return re.findall(r"[a-z]+|[0-9]+", s.lower())


def _pattern(p):
    return tuple(p.split("+"))


def _hit(pattern, toks):
    """A pattern is one or more token globs joined by '+' (consecutive tokens):
    'dog' is the token dog, 'bark*' a token starting with bark, 'wind+mill' the
    token wind followed by mill."""
    n = len(pattern)
    for i in range(len(toks) - n + 1):
        if all(fnmatch.fnmatchcase(toks[i + k], pattern[k]) for k in range(n)):
            return True
    return False


class RuleError(ValueError):
    pass


def load_rules(path, known=None):
    """Reads the rule table: columns class, include, exclude, notes (patterns
    separated by spaces); the class "*" holds exclusions for every class. An
    include pattern written with a leading "!" also matches a path that the
    "*" row excludes (classify).
    Returns ({class: (includes, excludes, "!" includes)}, global_excludes).
    A class not in `known` (when given), a class without include patterns, a
    repeated class, "!" in an exclude or a malformed line is an error naming
    the line."""
    rules, glob_ex = {}, []
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if not lines or lines[0].split("\t")[:3] != ["class", "include", "exclude"]:
        raise RuleError(f"{path}: first line must be the header class, include, exclude, notes")
    for n, line in enumerate(lines[1:], 2):
        if not line.strip() or line.startswith("#"):
            continue
        f = line.split("\t")
        if len(f) < 3:
            raise RuleError(f"{path}:{n}: needs at least 3 tab-separated columns")
        cls, inc, exc = f[0].strip(), f[1].split(), f[2].split()
        if any(p.startswith("!") for p in exc):
            raise RuleError(f"{path}:{n}: '!' marks include patterns only")
        strong = [p[1:] for p in inc if p.startswith("!")]
        inc = [p[1:] if p.startswith("!") else p for p in inc]
        bad = [p for p in inc + exc if not re.fullmatch(r"[a-z0-9*?]+(\+[a-z0-9*?]+)*", p)]
        if bad:
            raise RuleError(f"{path}:{n}: bad pattern {bad[0]!r} (lower-case token globs joined by +)")
        if cls == "*":
            if inc:
                raise RuleError(f"{path}:{n}: the '*' row only excludes")
            glob_ex += [_pattern(p) for p in exc]
            continue
        if known is not None and cls not in known:
            raise RuleError(f"{path}:{n}: unknown class {cls!r}")
        if not inc:
            raise RuleError(f"{path}:{n}: class {cls} has no include pattern")
        if cls in rules:
            raise RuleError(f"{path}:{n}: class {cls} given twice")
        rules[cls] = ([_pattern(p) for p in inc], [_pattern(p) for p in exc],
                      [_pattern(p) for p in strong])
    return rules, glob_ex


def classify(path, rules, glob_ex):
    """Returns (classes, reason): the classes whose rules the path matches, and
    'excluded' when a global exclusion hit (and no class's "!" pattern),
    'ambiguous' for several classes,
    'unmatched' for none, '' for exactly one."""
    toks = tokens(path)
    # Past a global exclusion only a class's "!" patterns match (the
    # non-speech sounds of a voice pack: warmux's voices/injured_*).
    excluded = any(_hit(p, toks) for p in glob_ex)
    hits = [c for c, (inc, exc, strong) in sorted(rules.items())
            if any(_hit(p, toks) for p in (strong if excluded else inc))
            and not any(_hit(p, toks) for p in exc)]
    if excluded and not hits:
        return [], "excluded"
    return hits, "" if len(hits) == 1 else "ambiguous" if hits else "unmatched"


def stable_frac(s):
    return int(hashlib.sha1(s.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def assign_splits(items, base, new_packages=(), min_val=5, late_packages=()):
    """Splits of mined clips, keeping the builder's source-disjoint rule.

    items: (class, package, group) per mined clip; base: (class, split,
    package, group) per clip of the sounds set already built; new_packages:
    the packages mined since data version 5 (build_data.MINE_NEW_PACKAGES),
    whose clips follow the second rule below; late_packages: those mined
    since data version 14 (build_data.MINE_LATE_PACKAGES), the third rule.
    Packages are compared without a "mined:" prefix.

    Every item: its (class, group) in base takes that group's split (no
    group in two splits); a package that the base holds out as val for the
    class is val (never train: the val package of a class stays unheard for
    it).

    The first packages (not in new_packages), as before:
      - a class without a val package in base gets one when mining brings it
        a package of its own: the new package with the fewest mined clips
        (ties by name) is val, if the class then still has another package;
      - otherwise about one folder in five (by a hash of the group) val-src,
        the rest train.
    The new packages (this rule never changes the split of a first-package
    clip):
      - a class with `min_val` or more clips from each of two or more new
        packages holds one whole new package out as val: of those, the one
        with the fewest clips (ties by name), so the class's val set grows
        by at least `min_val` clips and training still gains a new package
        of at least as many; otherwise the class holds no new package out;
      - the rest as above: about one folder in five val-src, the rest train.
    A class can so have two val packages (one of the base or the first
    mining, one new); no package is in both train and val for a class.

    The late packages (this rule never changes the split of an earlier
    package's clip, so that data version 13's val stays unheard by models
    trained on it):
      - a class with `min_val` or more clips from a late package, and
        training clips from two or more earlier packages, holds out one
        late package whole as val: of those with `min_val` clips, the one
        with the fewest (ties by name);
      - the rest as above: about one folder in five val-src, the rest train."""
    strip = lambda p: p[6:] if p.startswith("mined:") else p
    newp = {strip(p) for p in new_packages}
    latep = {strip(p) for p in late_packages}
    gsplit, val_pkg, known = {}, {}, {}
    for c, s, p, g in base:
        gsplit[(c, g)] = s
        known.setdefault(c, set()).add(strip(p))
        if s == "val":
            val_pkg[c] = strip(p)
    # Per class, the clips of each package the base does not know, from the
    # first packages (new) and from new_packages (later); and the clips of
    # each late package (late).
    new, later, late = {}, {}, {}
    for c, p, g in items:
        p = strip(p)
        if p in latep or p not in known.get(c, ()):
            counts = (late if p in latep else later if p in newp else new).setdefault(c, {})
            counts[p] = counts.get(p, 0) + 1
    for c, counts in new.items():
        if c not in val_pkg and (known.get(c) or len(counts) > 1):
            val_pkg[c] = min(counts, key=lambda p: (counts[p], p))
    # The new packages: one held out per class with two or more of them.
    val_new = {}
    for c, counts in later.items():
        big = [p for p in counts if counts[p] >= min_val]
        if len(big) > 1:
            val_new[c] = min(big, key=lambda p: (counts[p], p))
    # The late packages: the earlier packages a class trains on are those of
    # its base rows and earlier items (known, new, later) but its val ones.
    val_late = {}
    for c, counts in late.items():
        big = [p for p in counts if counts[p] >= min_val]
        trains = (known.get(c, set()) | set(new.get(c, ())) | set(later.get(c, ()))) \
            - {val_pkg.get(c), val_new.get(c)}
        if big and len(trains) >= 2:
            val_late[c] = min(big, key=lambda p: (counts[p], p))
    out = []
    # The late packages are in neither the base nor the other two lists, so
    # their clips are val only through val_late.
    for c, p, g in items:
        if (c, g) in gsplit:
            out.append(gsplit[(c, g)])
        elif strip(p) in (val_pkg.get(c), val_new.get(c), val_late.get(c)):
            out.append("val")
        else:
            out.append("val-src" if stable_frac(g) < 0.2 else "train")
    return out
