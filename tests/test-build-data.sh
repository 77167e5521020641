#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The data builder in --quick mode: manifest format, splits that never share
# a group, and the held-out filter (a custom list naming one packaged file).
# Needs sox, espeak-ng, flite, festival, fluidsynth, fluid-soundfont-gm and
# apt-get download access to minetest-data and lmms-common (skips with 77
# otherwise); stk for the check of its notes (skipped without it).
set -u
: "${CLAR_SOURCE_ROOT:?run through meson test}"
for t in sox espeak-ng flite festival fluidsynth dpkg-deb; do
  command -v $t >/dev/null || { echo "no $t: skipped"; exit 77; }
done
[ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] || { echo "no FluidR3_GM.sf2: skipped"; exit 77; }
tables=$CLAR_SOURCE_ROOT/tools/data/tables
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3
b=$CLAR_SOURCE_ROOT/tools/data/build_data.py
fails=0
check () { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails+1)); fi; }

: > "$tmp/none.txt"
$py "$b" --quick --out "$tmp/a" --heldout "$tmp/none.txt" 2> "$tmp/a.log" || {
  grep -q "not available" "$tmp/a.log" && { echo "package download unavailable: skipped"; exit 77; }
  cat "$tmp/a.log"; exit 1; }
# The cries set is not built by default: added to the same folder.
$py "$b" --quick --sets cries --out "$tmp/a" --heldout "$tmp/none.txt" 2> "$tmp/c.log" || { cat "$tmp/c.log"; exit 1; }
m=$tmp/a/manifest.tsv
check "manifest header" "head -1 '$m' | grep -q \$'^path\tlabel\tsplit\tsource\tgroup\tcaption\$'"
check "every row has 6 columns and an existing file" "$py - '$m' <<'PY'
import os, sys
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1])][1:]
assert rows and all(len(r) == 6 for r in rows)
assert all(os.path.exists(os.path.join(os.path.dirname(sys.argv[1]), r[0])) for r in rows)
assert {r[2] for r in rows} == {'train', 'val', 'val-src'}
PY"
check "val is source-disjoint: no source of a val clip is in train" "$py - '$m' <<'PY'
import sys
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1])][1:]
train = {r[3] for r in rows if r[2] == 'train' and r[3] != 'sox'}
val = {r[3] for r in rows if r[2] == 'val' and r[3] != 'sox'}
assert val and not (train & val), train & val
PY"
check "no group in two splits" "$py - '$m' <<'PY'
import sys
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1])][1:]
sp = {}
for r in rows: sp.setdefault((r[1], r[4]), set()).add(r[2])
assert all(len(v) == 1 for v in sp.values()), [k for k, v in sp.items() if len(v) > 1]
PY"
check "cries set: spoken pain cries and laughs, training clips of pain_grunt and laughter, not empty" "$py - '$m' <<'PY'
import os, sys, wave
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1])][1:]
c = [r for r in rows if r[0].startswith('cries/')]
assert {r[1] for r in c} == {'pain_grunt', 'laughter'} and {r[2] for r in c} == {'train'}, c
assert all(r[3].split(':')[0] in ('espeak', 'festival') for r in c)
for r in c:
    with wave.open(os.path.join(os.path.dirname(sys.argv[1]), r[0])) as w:
        assert w.getframerate() == 16000 and w.getnframes() > 4000, r
PY"
check "16 kHz mono clips" "soxi -r \"$tmp/a/\$(sed -n 2p '$m' | cut -f1)\" | grep -qx 16000"
check "unlabelled pool: clips exist, none of them a labelled set's file" "$py - '$tmp/a' '$tables/realsounds-train.tsv' <<'PY'
import os, sys
rows = [l.rstrip('\n').split('\t') for l in open(os.path.join(sys.argv[1], 'unlabelled.tsv'))][1:]
listed = {l.split('\t')[4].strip().split('/', 1)[1] for l in open(sys.argv[2]) if '/' in l}
assert rows, 'empty pool'
assert all(os.path.exists(os.path.join(sys.argv[1], r[0])) for r in rows)
assert not any(r[2] in listed for r in rows), 'a labelled file is in the pool'
PY"
# The pool of real voices (voices set): quick mode takes 10 prompts of the
# smallest prompt package; its digits/ and letters/ folders never enter.
if grep -q 'asterisk-prompt-es-co is not available' "$tmp/a.log"; then
  echo "asterisk-prompt-es-co unavailable: the voices pool check is skipped"
else
  check "voices pool: 16 kHz clips of the prompt voice, none from digits/ or letters/" "$py - '$tmp/a' <<'PY'
import os, sys, wave
rows = [l.rstrip('\n').split('\t') for l in open(os.path.join(sys.argv[1], 'unlabelled-voices.tsv'))][1:]
assert 0 < len(rows) <= 10, len(rows)
assert all(r[1] == 'asterisk-prompt-es-co' and r[0].startswith('unlabelled-voices/') for r in rows)
assert not any('/digits/' in r[2] or '/letters/' in r[2] for r in rows), rows
for r in rows:
    with wave.open(os.path.join(sys.argv[1], r[0])) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getnframes() > 1600
PY"
fi
check "whole game pool (pool set): clips exist, no labelled or mined file, no skipped folder, data version 11 marker" "$py - '$tmp/a' '$tables/realsounds-train.tsv' <<'PY'
import os, sys
rows = [l.rstrip('\n').split('\t') for l in open(os.path.join(sys.argv[1], 'unlabelled-all.tsv'))][1:]
listed = {l.split('\t')[4].strip().split('/', 1)[1] for l in open(sys.argv[2]) if '/' in l}
assert 0 < len(rows) <= 10, len(rows)
assert all(r[0].startswith('unlabelled-all/') and os.path.exists(os.path.join(sys.argv[1], r[0])) for r in rows)
assert not any(r[2] in listed for r in rows), 'a labelled file is in the pool'
assert not any(set(r[2].split('/')[:-1]) & {'digits', 'letters', 'alpha'} for r in rows)
assert os.path.exists(os.path.join(sys.argv[1], '.done-pool'))
PY"
check "mined_tables: the mined.tsv of every folder a manifest's mined clips live in, and OUT's own" "$py - '$b' '$tmp/mt' <<'PY'
import importlib.util, os, sys
spec = importlib.util.spec_from_file_location('build_data', sys.argv[1])
bd = importlib.util.module_from_spec(spec); spec.loader.exec_module(bd)
t = sys.argv[2]
for d in ('v7', 'v10', 'v11'):
    os.makedirs(os.path.join(t, d))
open(os.path.join(t, 'v7', 'mined.tsv'), 'w').write('path\tlabel\tsplit\tpackage\tmember\tmd5\n')
open(os.path.join(t, 'v10', 'manifest.tsv'), 'w').write(
    'path\tlabel\tsplit\tsource\tgroup\tcaption\n'
    + os.path.join(t, 'v7', 'sounds-mined', 'wind', 'x.wav') + '\twind\ttrain\tmined:0ad-audio\tg\tc\n')
assert bd.mined_tables(os.path.join(t, 'v11'), os.path.join(t, 'v10')) == [os.path.join(t, 'v7', 'mined.tsv')]
assert bd.mined_tables(os.path.join(t, 'v11')) == []
open(os.path.join(t, 'v11', 'mined.tsv'), 'w').write('path\tlabel\tsplit\tpackage\tmember\tmd5\n')
assert bd.mined_tables(os.path.join(t, 'v11'), os.path.join(t, 'v10')) == \
    [os.path.join(t, 'v11', 'mined.tsv'), os.path.join(t, 'v7', 'mined.tsv')]
PY"
check "pool_member_ok: music and the skipped folders anywhere in the path stay out" "$py - '$b' <<'PY'
import importlib.util, sys
spec = importlib.util.spec_from_file_location('build_data', sys.argv[1])
bd = importlib.util.module_from_spec(spec); spec.loader.exec_module(bd)
skip = bd.VOICE_POOL_SKIP
assert bd.pool_member_ok('usr/share/asterisk/sounds/es/vm-intro.gsm', skip)
assert not bd.pool_member_ok('usr/share/asterisk/sounds/es/digits/oh.gsm', skip)
assert not bd.pool_member_ok('usr/share/asterisk/sounds/fr/letters/a.gsm', skip)
assert bd.pool_member_ok('usr/share/x/digits.wav', skip), 'a file named like a folder is kept'
assert not bd.pool_member_ok('usr/share/game/Music/theme.ogg')
assert bd.pool_member_ok('usr/share/asterisk/sounds/en/digits/oh.wav'), 'no skip list: kept'
assert not bd.pool_member_ok('usr/share/klettres/en/alpha/a.ogg', bd.POOL_ALL_SKIP)
assert bd.pool_member_ok('usr/share/klettres/en/syllab/ba.ogg', bd.POOL_ALL_SKIP)
PY"
if command -v stk-demo >/dev/null; then
  check "stk notes: instrument families, train or val-src only, none clipped or silent" "$py - '$m' <<'PY'
import array, os, sys, wave
fams = {'bass', 'brass', 'flute', 'guitar', 'keyboard', 'mallet', 'organ', 'reed', 'string',
        'synth_lead', 'vocal'}
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1])][1:]
stk = [r for r in rows if r[3].startswith('stk:')]
assert stk, 'no stk rows'
assert all(r[1] in fams and r[2] in ('train', 'val-src') for r in stk)
for r in stk:
    with wave.open(os.path.join(os.path.dirname(sys.argv[1]), r[0])) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1
        a = array.array('h', w.readframes(w.getnframes()))
    peak = max(abs(x) for x in a) / 32768
    assert 0.2 < peak < 0.95, (r[0], peak)
PY"
else
  echo "no stk-demo: the stk check is skipped"
fi
if grep -q 'source lmms-common: not available' "$tmp/a.log"; then
  echo "lmms-common unavailable: the lmms check is skipped"
else
  check "lmms notes: a sampler's transposed notes of the table's samples, audible, at least 1 s, train or val-src" "$py - '$m' '$tables/lmms-samples.tsv' <<'PY'
import array, os, sys, wave
fams = {'bass', 'brass', 'flute', 'guitar', 'keyboard', 'mallet', 'organ', 'reed', 'string',
        'synth_lead', 'vocal'}
table = [l.rstrip('\n').split('\t') for l in open(sys.argv[2]) if l.strip() and not l.startswith('#')][1:]
assert table and all(t[1] in fams for t in table), 'a sample without a GM family'
fam_of = {os.path.splitext(os.path.basename(t[0]))[0]: t[1] for t in table}
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1])][1:]
lm = [r for r in rows if r[3] == 'sampler:lmms']
assert len(lm) >= 8, len(lm)
for r in lm:
    name = r[4].split(':', 1)[1]
    assert r[1] == fam_of[name] and r[2] in ('train', 'val-src'), r
    with wave.open(os.path.join(os.path.dirname(sys.argv[1]), r[0])) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1
        assert w.getnframes() >= 16000, (r[0], w.getnframes())
        a = array.array('h', w.readframes(w.getnframes()))
    peak = max(abs(x) for x in a) / 32768
    assert 0.2 < peak < 0.95, (r[0], peak)
PY"
fi
if command -v timidity >/dev/null; then
  check "a training soundfont through timidity: train or val-src notes, audible, other pitches than fluidsynth's" "$py - '$m' <<'PY'
import array, os, sys, wave
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1])][1:]
tim = [r for r in rows if r[3] == 'timidity:fluidr3-tim']
fl = {r[0].split('/')[-1].split('_', 1)[1] for r in rows if r[3] == 'fluidsynth:fluidr3'}
assert tim, 'no timidity rows'
assert {r[2] for r in tim} <= {'train', 'val-src'}
assert len({r[0].split('/')[-1].split('_', 1)[1] for r in tim} - fl) > len(tim) // 2, 'notes aligned'
for r in tim:
    with wave.open(os.path.join(os.path.dirname(sys.argv[1]), r[0])) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1
        a = array.array('h', w.readframes(w.getnframes()))
    assert max(abs(x) for x in a) > 327, (r[0], 'silent')
PY"
else
  echo "no timidity: the check of soundfonts through timidity is skipped"
fi
# The instruments-wide set (data version 12): the same sources and programs
# as the instruments set, every family over one register (C2-C6) so that the
# register does not tell the family, clips of 1.5-4 s ending 0.5 s after the
# note, audible; a program's wide notes take its split (no group in two
# splits, checked above over both sets).
check "instruments-wide: one register for every family, 1.5-4 s clips, audible, splits of the instruments set" "$py - '$m' <<'PY'
import array, os, sys, wave
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1])][1:]
wide = [r for r in rows if r[0].startswith('instruments-wide/')]
fam = [r for r in rows if r[0].startswith('instruments/') and not r[3].startswith(('stk:', 'sampler:'))]
assert wide and fam, 'no wide or no family-plan notes'
assert {r[3] for r in wide} == {r[3] for r in fam}, 'other sources'
split_of = {(r[3], r[4]): r[2] for r in fam}
assert all(split_of.get((r[3], r[4]), r[2]) == r[2] for r in wide)
pitch = lambda r: int(r[0].split('_n')[1].split('_')[0])
assert all(36 <= pitch(r) <= 84 for r in wide)
bass = [pitch(r) for r in wide if r[1] == 'bass']
assert not bass or max(bass) > 57, 'bass notes only in the bass register'
for r in wide:
    with wave.open(os.path.join(os.path.dirname(sys.argv[1]), r[0])) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1
        d = w.getnframes() / 16000
        a = array.array('h', w.readframes(w.getnframes()))
    assert 1.49 <= d <= 4.01, (r[0], d)
    assert max(abs(x) for x in a) > 327, (r[0], 'silent')
PY"
n_a=$(($(grep -vc $'^cries/' "$m") - 1))   # the cries set (built above, not by default) aside
# Held-out filter: list the md5 of one packaged minetest sound.
deb=$(ls "$tmp"/a/debs/minetest-data_*.deb | head -1)
mkdir "$tmp/x" && dpkg-deb -x "$deb" "$tmp/x"
f=$(grep minetest-data "$tables/realsounds-train.tsv" | head -1 | cut -f5 | cut -d/ -f2-)
md5sum "$tmp/x/$f" | cut -d' ' -f1 > "$tmp/one.txt"
$py "$b" --quick --out "$tmp/b" --heldout "$tmp/one.txt" 2> "$tmp/b.log"
n_b=$(($(wc -l < "$tmp/b/manifest.tsv") - 1))
check "held-out file removed ($n_a -> $n_b clips)" "[ $n_b -eq $((n_a - 1)) ] && grep -qx \$'heldout_removed\t1' '$tmp/b/VERSION.tsv'"
# A held-out source file drops the whole source: list the soundfont itself.
md5sum /usr/share/sounds/sf2/FluidR3_GM.sf2 | cut -d' ' -f1 > "$tmp/sf.txt"
$py "$b" --quick --out "$tmp/s" --heldout "$tmp/sf.txt" --sets instruments,background 2> "$tmp/s.log"
# Quick mode renders the font through fluidsynth and (where installed)
# timidity: two sources of one file, both dropped.
n_sf=1; command -v timidity >/dev/null && n_sf=2
check "held-out soundfont: no note rendered from it ($n_sf sources)" \
  "! grep -q fluidr3 '$tmp/s/manifest.tsv' && grep -qx \$'heldout_sources\t$n_sf' '$tmp/s/VERSION.tsv'"
# A set rebuilt on built data (--base) replaces the base's rows of that set
# and keeps the others (the STK and LMMS notes under instruments/ are sets
# of their own, kept).
$py "$b" --quick --out "$tmp/r" --base "$tmp/a" --heldout "$tmp/none.txt" --sets instruments 2> "$tmp/r.log"
check "a set rebuilt over --base replaces the base's rows of it" "$py - '$tmp/r/manifest.tsv' '$tmp/a' <<'PY'
import sys
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1])][1:]
base = sys.argv[2] + '/'
assert not [r for r in rows if r[0].startswith(base + 'instruments/') and not r[3].startswith(('stk:', 'sampler:'))]
assert [r for r in rows if r[0].startswith('instruments/') and r[3].startswith('fluidsynth:')]
assert [r for r in rows if r[0].startswith(base + 'words/')], 'the base words are kept'
PY"
check "the instruments stage reports the silent notes it dropped" "grep -q \$'^instruments_silent\t' '$tmp/a/VERSION.tsv'"
# The programs a SoundFont defines in bank 0 (a font lacking one renders
# silence for it): a preset table written here, after sample data that holds
# the bytes "phdr" in a list of odd size without its pad byte (as
# FluidR3Mono ships), and FluidR3's full GM set.
check "soundfont_programs reads the preset headers" "$py - '$b' '$tmp/f.sf2' <<'PY'
import importlib.util, struct, sys
spec = importlib.util.spec_from_file_location('build_data', sys.argv[1])
bd = importlib.util.module_from_spec(spec); spec.loader.exec_module(bd)
rec = lambda name, prog, bank: struct.pack('<20sHHHIII', name.encode(), prog, bank, 0, 0, 0, 0)
phdr = rec('Piano', 0, 0) + rec('Drums', 0, 128) + rec('Organ', 19, 0) + rec('EOP', 0, 0)
lst = lambda kind, body: b'LIST' + struct.pack('<I', len(body) + 4) + kind + body
smpl = b'smpl' + struct.pack('<I', 15) + b'\x01\x02phdr\x05\x00\x00\x00\x07\x08\x09'
pdta = b'pbag' + struct.pack('<I', 4) + b'\x00' * 4 + b'phdr' + struct.pack('<I', len(phdr)) + phdr
form = b'sfbk' + lst(b'sdta', smpl) + lst(b'pdta', pdta)
open(sys.argv[2], 'wb').write(b'RIFF' + struct.pack('<I', len(form)) + form)
assert bd.soundfont_programs(sys.argv[2]) == {0, 19}, bd.soundfont_programs(sys.argv[2])
assert bd.soundfont_programs('/usr/share/sounds/sf2/FluidR3_GM.sf2') == set(range(128))
PY"
# Resumable: a second run reuses the finished stages.
$py "$b" --quick --out "$tmp/a" --heldout "$tmp/none.txt" 2> "$tmp/c.log"
check "rerun skips built stages" "grep -q 'already built' '$tmp/c.log'"
echo "$fails failed"
[ $fails -eq 0 ]
