#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# clar-embed inputs and outputs (issue 17, item 9): folders (every audio file
# below, sorted) and "-" (standard input); zero-shot labels from --prompts
# and from a .txt prompt file; "padded" on the final partial window; --npy
# read back by numpy (skipped without numpy) and --csv by Python's csv
# module, both row for row equal to the JSON lines (a silent window: NaN
# row, empty label and embedding columns); --clip, one line per file (the
# clip embedding of clip-embed.h). Needs sox (skips with 77
# otherwise). Runs on a random fixture model with a random text tower.
set -u
: "${CLAR_BUILD_ROOT:?run through meson test}"
B=$CLAR_BUILD_ROOT/tools
command -v sox >/dev/null || { echo "no sox: skipped"; exit 77; }
tmp=$(mktemp -d); [ -n "${KEEP_TMP:-}" ] && echo "$tmp" || trap 'rm -rf "$tmp"' EXIT
fails=0
check () { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails+1)); fi; }
"$B/clar-mkmodel" --seed 7 --labels "a;b;c" --text-tower -o "$tmp/m.safetensors" || exit 1
E=("$B/clar-embed" --model "$tmp/m.safetensors")

mkdir -p "$tmp/in/sub"
sox -R -n -r 16000 -c 1 "$tmp/in/b.wav" synth 1.3 sine 440 vol 0.5
sox -R -n -r 22050 -c 2 "$tmp/in/a.ogg" synth 2.0 whitenoise vol 0.2
sox -R -n -r 16000 -c 1 "$tmp/in/sub/c.flac" synth 1.0 sine 880 vol 0.5
sox -n -r 16000 -c 1 "$tmp/in/sub/d-silence.wav" trim 0 1.0
echo "not audio" > "$tmp/in/notes.txt"

"${E[@]}" "$tmp/in" > "$tmp/dir.json" 2> "$tmp/dir.log"
check "a folder: exit 0" "[ $? -eq 0 ]"
files=$(/usr/bin/python3 -c 'import json,sys; print(" ".join(dict.fromkeys(json.loads(l)["file"].rsplit("/",1)[1] for l in open(sys.argv[1]))))' "$tmp/dir.json")
check "a folder: its audio files below it, sorted ($files)" "[ '$files' = 'a.ogg b.wav c.flac d-silence.wav' ]"
"${E[@]}" - < "$tmp/in/b.wav" > "$tmp/stdin.json" 2>/dev/null
"${E[@]}" "$tmp/in/b.wav" > "$tmp/file.json" 2>/dev/null
check "- reads standard input: the same windows as the file" \
  "[ -s '$tmp/stdin.json' ] && diff <(sed 's/\"file\":\"[^\"]*\"//' '$tmp/stdin.json') <(sed 's/\"file\":\"[^\"]*\"//' '$tmp/file.json') >/dev/null && grep -q '\"file\":\"-\"' '$tmp/stdin.json'"
echo garbage | "${E[@]}" - > /dev/null 2> "$tmp/bad.log"
check "- with no audio on standard input: an error naming it" "[ $? -eq 1 ] && grep -q 'standard input' '$tmp/bad.log'"
check "padded: false on full windows, true on the final partial one" \
  "[ \"\$(grep -o '\"padded\":[a-z]*' '$tmp/file.json' | tr '\n' ' ')\" = '\"padded\":false \"padded\":true ' ]"

"${E[@]}" --prompts "a dog barking;rain on a roof" --top-k 2 "$tmp/in/b.wav" > "$tmp/p1.json" 2> "$tmp/p1.log"
check "--prompts: the prompts are the labels" \
  "[ $? -eq 0 ] && grep -q '\"name\":\"a dog barking\"' '$tmp/p1.json' && grep -q '\"name\":\"rain on a roof\"' '$tmp/p1.json'"
printf '# two prompts\na dog barking\nrain on a roof\n' > "$tmp/p.txt"
"${E[@]}" --labels "$tmp/p.txt" --top-k 2 "$tmp/in/b.wav" > "$tmp/p2.json" 2>/dev/null
check "a .txt prompt file gives the same as --prompts" "cmp -s '$tmp/p1.json' '$tmp/p2.json'"
"$B/clar-mkmodel" --seed 7 --labels "a;b" -o "$tmp/notext.safetensors"
"$B/clar-embed" --model "$tmp/notext.safetensors" --prompts "x;y" "$tmp/in/b.wav" > /dev/null 2> "$tmp/nt.log"
check "--prompts without a text tower: a clear error" "[ $? -ne 0 ] && grep -qi 'text tower' '$tmp/nt.log'"

"${E[@]}" --embeddings --npy "$tmp/e.npy" --csv "$tmp/e.csv" "$tmp/in" > "$tmp/all.json" 2>/dev/null
check "--npy and --csv: exit 0" "[ $? -eq 0 ] && [ -s '$tmp/e.npy' ] && [ -s '$tmp/e.csv' ]"
/usr/bin/python3 - "$tmp/all.json" "$tmp/e.npy" "$tmp/e.csv" > "$tmp/py.txt" 2>&1 <<'PY'
import csv, json, struct, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
D = max(len(r.get("embedding", [])) for r in rows)
# A silent window (below --min-rms) has no embedding: NaN in the .npy.
emb = [r["embedding"] if "embedding" in r else [float("nan")] * D for r in rows]
assert any(r["silent"] for r in rows) and not all(r["silent"] for r in rows)
same = lambda x, y: (x != x and y != y) or abs(x - y) < 1e-5
# The .npy by hand (format 1.0), so this part runs without numpy too.
b = open(sys.argv[2], "rb").read()
assert b[:8] == b"\x93NUMPY\x01\x00", b[:8]
hl = struct.unpack("<H", b[8:10])[0]
header = b[10:10 + hl].decode()
assert (10 + hl) % 64 == 0 and "'<f4'" in header and f"({len(rows)}, {len(emb[0])})" in header, header
data = struct.unpack(f"<{len(rows) * len(emb[0])}f", b[10 + hl:])
ok = all(same(data[i * D + d], emb[i][d]) for i in range(len(rows)) for d in range(D))
print("npy-by-hand", "ok" if ok else "differs")
with open(sys.argv[3], newline="") as f:
    rd = list(csv.DictReader(f))
ok = len(rd) == len(rows) and all(
    r["file"] == j["file"] and abs(float(r["start"]) - j["start"]) < 1e-9
    and r["padded"] == ("1" if j["padded"] else "0") and abs(float(r["rms"]) - j["rms"]) <= 1e-6 * max(1, j["rms"])
    and r["silent"] == ("1" if j["silent"] else "0")
    and (r["label"] == j["labels"][0]["name"] if j["labels"] else r["label"] == "")
    and (abs(float(r["similarity"]) - j["max_similarity"]) < 1e-4 if "max_similarity" in j and not j["silent"] else True)
    and all(same(float(r[f"e{d}"]) if r[f"e{d}"] else float("nan"), emb[k][d]) for d in range(D))
    for k, (r, j) in enumerate(zip(rd, rows)))
print("csv", "ok" if ok else "differs")
try:
    import numpy as np
except ImportError:
    print("numpy absent")
    sys.exit(0)
a = np.load(sys.argv[2])
ok = a.dtype == np.float32 and a.shape == (len(rows), D) and np.allclose(a, np.array(emb), atol=1e-5, equal_nan=True)
print("numpy", "ok" if ok else f"differs {a.dtype} {a.shape}")
PY
cat "$tmp/py.txt"
check ".npy: the header and rows equal the JSON embeddings" "grep -q 'npy-by-hand ok' '$tmp/py.txt'"
check ".csv: one row per JSON line, same file/start/padded/label/embedding" "grep -q '^csv ok' '$tmp/py.txt'"
if grep -q 'numpy absent' "$tmp/py.txt"; then
  echo "numpy absent: numpy.load check skipped"
else
  check "numpy.load reads the .npy (float32, windows x dim, equal values)" "grep -q '^numpy ok' '$tmp/py.txt'"
fi

# --clip: one line per file, the clip embedding clar-eval and clar-enroll use
# (clip-embed.h), checked against the normalised mean of the per-window
# embeddings at half-window hop with no window left out (--min-rms 0). A
# clip is embedded down to a tenth of a window (--min-fill 0.1 by default
# with --clip, as clar-eval and the trainer): a 0.2 s sound is a clip, a
# 0.05 s one is too short.
sox -n -r 16000 -c 1 "$tmp/in/short.wav" synth 0.05 sine 300 vol 0.5
sox -n -r 16000 -c 1 "$tmp/in/knock.wav" synth 0.2 sine 300 vol 0.5
"${E[@]}" --clip --embeddings --npy "$tmp/c.npy" "$tmp/in/b.wav" "$tmp/in/a.ogg" "$tmp/in/short.wav" \
  "$tmp/in/knock.wav" "$tmp/in/sub/d-silence.wav" > "$tmp/clip.json" 2> "$tmp/clip.log"
rc=$?
check "--clip: a file too short for a window is an error naming it and the 0.1 fill, exit 1" \
  "[ $rc -eq 1 ] && grep -q 'short.wav: 0.050 s of audio is less than --min-fill 0.10 .*no window' '$tmp/clip.log'"
check "--clip: one line per other file, in order (the 0.2 s one too)" \
  "[ \"\$(/usr/bin/python3 -c 'import json,sys; print(\" \".join(json.loads(l)[\"file\"].rsplit(\"/\",1)[1] for l in open(sys.argv[1])))' '$tmp/clip.json')\" = 'b.wav a.ogg knock.wav d-silence.wav' ]"
"${E[@]}" --clip --min-fill 0.5 "$tmp/in/knock.wav" > "$tmp/knock5.json" 2> "$tmp/knock5.log"
check "--clip --min-fill 0.5: the 0.2 s file has no window, exit 1" \
  "[ $? -eq 1 ] && ! [ -s '$tmp/knock5.json' ] && grep -q 'knock.wav.*less than --min-fill 0.50' '$tmp/knock5.log'"
"${E[@]}" --hop 0.5 --min-rms 0 --min-fill 0.1 --embeddings "$tmp/in/b.wav" "$tmp/in/a.ogg" \
  "$tmp/in/knock.wav" "$tmp/in/sub/d-silence.wav" > "$tmp/win.json" 2>/dev/null
/usr/bin/python3 - "$tmp/clip.json" "$tmp/win.json" "$tmp/c.npy" > "$tmp/clip.txt" 2>&1 <<'PY'
import json, math, struct, sys
clips = [json.loads(l) for l in open(sys.argv[1])]
wins = [json.loads(l) for l in open(sys.argv[2])]
ok = True
for c in clips:
    w = [x["embedding"] for x in wins if x["file"] == c["file"]]
    s = [sum(v[d] for v in w) for d in range(len(w[0]))]
    n = math.sqrt(sum(x * x for x in s))
    ok &= c["windows"] == len(w) and max(abs(a / n - b) for a, b in zip(s, c["embedding"])) < 1e-4
    # The labels are the clip embedding's own: softmax of scaled cosine, so
    # the first one's similarity is the highest.
    ok &= c["labels"][0]["similarity"] == c["max_similarity"] and len(c["labels"]) == 3
print("mean", "ok" if ok else "differs", [c["windows"] for c in clips])
b = open(sys.argv[3], "rb").read()
hl = struct.unpack("<H", b[8:10])[0]
D = len(clips[0]["embedding"])
assert f"({len(clips)}, {D})" in b[10:10 + hl].decode()
data = struct.unpack(f"<{len(clips) * D}f", b[10 + hl:])
ok = all(abs(data[i * D + d] - c["embedding"][d]) < 1e-5 for i, c in enumerate(clips) for d in range(D))
print("clip-npy", "ok" if ok else "differs")
PY
cat "$tmp/clip.txt"
check "--clip: the normalised mean of the windows every half window, silent ones too" \
  "grep -q '^mean ok' '$tmp/clip.txt'"
check "--clip --npy: one row per line, equal to the JSON embedding" "grep -q '^clip-npy ok' '$tmp/clip.txt'"
"${E[@]}" --clip --hop 0.25 "$tmp/in/b.wav" > /dev/null 2> "$tmp/cliphop.log"
check "--clip with --hop: refused, exit 2" "[ $? -eq 2 ] && grep -q -- '--clip takes no' '$tmp/cliphop.log'"

# NaN samples (a float WAV): the windows holding them are named on stderr and
# the exit status is 1 in every mode; --clip still prints the mean of the
# other windows and says how many it holds.
/usr/bin/python3 - "$tmp/nan.wav" <<'PY'
import math, struct, sys
x = [0.3 * math.sin(0.1 * i) for i in range(32000)]
for i in range(100, 200):
    x[i] = float("nan")
d = struct.pack(f"<{len(x)}f", *x)
h = b"RIFF" + struct.pack("<I", 36 + len(d)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 3, 1, 16000, 64000, 4, 32)
open(sys.argv[1], "wb").write(h + b"data" + struct.pack("<I", len(d)) + d)
PY
for mode in "" --clip --events; do
  "${E[@]}" $mode "$tmp/nan.wav" > "$tmp/nan.out" 2> "$tmp/nan.log"
  check "NaN samples ${mode:-(windows)}: exit 1, named on stderr" "[ $? -eq 1 ] && grep -q 'NaN or Inf' '$tmp/nan.log'"
done
"${E[@]}" --clip "$tmp/nan.wav" > "$tmp/nan.out" 2>/dev/null
check "NaN samples --clip: the other 3 of 4 windows averaged" "grep -q '\"windows\":3,' '$tmp/nan.out'"

# A file name that is not UTF-8 (Linux names are bytes): the JSON stays
# UTF-8, the name shown with U+FFFD, and stderr says so.
bad=$(printf '%s/caf\xe9.wav' "$tmp")
cp "$tmp/in/b.wav" "$bad"
for mode in "" --clip; do
  "${E[@]}" $mode "$bad" > "$tmp/u8.json" 2> "$tmp/u8.log"
  rc=$?
  check "a non-UTF-8 file name ${mode:-(windows)}: exit 0, valid UTF-8 JSON, a warning" \
    "[ $rc -eq 0 ] && /usr/bin/python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1], encoding=\"utf-8\")]' '$tmp/u8.json' && grep -q 'not valid UTF-8' '$tmp/u8.log'"
done

echo "$fails failed"
[ $fails -eq 0 ]
