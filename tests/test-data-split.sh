#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Folder data in the data tools (issue 17, items 1 and 11):
#  - a folder per class gets a held-out split: clar-eval scores clips that
#    are not its train clips, every class has clips on both sides, and
#    adding files moves no train file into val;
#  - test clips equal to train clips (same path, or same bytes under another
#    name) make clar-eval refuse, --exclude-overlap scores the others;
#  - files that cannot be used are counted with their reason on every run
#    (also from the decode cache), and above --max-dropped the run refuses;
#  - files GStreamer refuses but sox reads (headerless .gsm, .caf) are read
#    through libsndfile when the build has it; .aiff and a .wav with a
#    trailing byte after its data chunk are read;
#  - short clips: clar-embed's windows need half a window (0.3 s gives none,
#    0.6 s one padded window), the clip tools a tenth (clar-eval and
#    clar-embed --clip keep the 0.3 s clip, drop and count a 0.05 s one;
#    clar-eval --min-fill 0.5 drops the 0.3 s one).
# Needs sox (skips with 77 otherwise). Runs on a random fixture model.
set -u
: "${CLAR_BUILD_ROOT:?run through meson test}"
B=$CLAR_BUILD_ROOT/tools
command -v sox >/dev/null || { echo "no sox: skipped"; exit 77; }
tmp=$(mktemp -d); [ -n "${KEEP_TMP:-}" ] && echo "$tmp" || trap 'rm -rf "$tmp"' EXIT
fails=0
check () { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails+1)); fi; }
"$B/clar-mkmodel" --seed 5 --labels "tone;noise;chirp" -o "$tmp/m.safetensors" || exit 1
M=$tmp/m.safetensors

# 3 classes x 10 clips, all distinct.
mk () {  # dir n
  for i in $(seq 1 "$2"); do
    sox -R -n -r 16000 -c 1 "$1/tone/t$i.wav" synth 1.1 sine $((200 + i * 37)) vol 0.5
    sox -R -n -r 16000 -c 1 "$1/noise/n$i.wav" synth 1.1 whitenoise vol 0.$((10 + i))
    sox -R -n -r 16000 -c 1 "$1/chirp/c$i.wav" synth 1.1 sine $((300 + i * 20))-$((3000 + i * 50)) vol 0.5
  done
}
mkdir -p "$tmp/ds/tone" "$tmp/ds/noise" "$tmp/ds/chirp"
mk "$tmp/ds" 10

"$B/clar-eval" --model "$M" --data "$tmp/ds" > "$tmp/e.txt" 2> "$tmp/e.log"
check "clar-eval on a folder exits 0" "[ $? -eq 0 ]"
cat "$tmp/e.txt" | head -2
tr_n=$(sed -n 's/^train split train: \([0-9]*\) clips.*/\1/p' "$tmp/e.txt")
te_n=$(sed -n 's/^split val: \([0-9]*\) test clips.*/\1/p' "$tmp/e.txt")
check "train and test are disjoint parts of the 30 clips (train $tr_n, test $te_n)" \
  "[ -n '$tr_n' ] && [ $((tr_n + te_n)) -eq 30 ] && [ $te_n -ge 3 ] && [ $te_n -le 12 ]"
check "every run says how many files were used and dropped" \
  "grep -q 'ds (split val): [0-9]* files, [0-9]* used, 0 dropped' '$tmp/e.log'"

# A manifest with two test splits: --test-split scores each on its own
# (models/README.md scores val, val-wide and val-src in one run).
{ printf 'path\tlabel\tsplit\tsource\tgroup\tcaption\n'
  for d in tone noise chirp; do
    for i in $(seq 1 10); do
      f=$(ls "$tmp/ds/$d" | sort | sed -n ${i}p)
      sp=train; [ $i -ge 7 ] && sp=val; [ $i -ge 9 ] && sp=val-b
      printf '%s\t%s\t%s\tsox\t%s:%s\ta %s\n' "$tmp/ds/$d/$f" "$d" "$sp" "$d" "$i" "$d"
    done
  done; } > "$tmp/two.tsv"
"$B/clar-eval" --model "$M" --data "$tmp/two.tsv" --baseline none --test-split val,val-b > "$tmp/two.txt" 2> "$tmp/two.log"
check "--test-split val,val-b: both splits scored, 6 clips each, probe on the 18 train clips" \
  "[ $? -eq 0 ] && grep -q '^split val: 6 test clips' '$tmp/two.txt' && grep -q '^split val-b: 6 test clips' '$tmp/two.txt' && grep -q '^train split train: 18 clips' '$tmp/two.txt'"

# The clips clar-enroll uses are the folder's train split; no val clip.
"$B/clar-enroll" --model "$M" --data "$tmp/ds" --out "$tmp/l.safetensors" 2> "$tmp/en1.log"
check "clar-enroll uses the train split ($tr_n clips)" "[ \$(grep -c ' <- ' '$tmp/en1.log') -eq $tr_n ]"
check "each class has train clips" "[ \$(grep -c ': [0-9]* examples*$' '$tmp/en1.log') -eq 3 ]"
grep ' <- ' "$tmp/en1.log" | sed 's/.* <- //' | sort > "$tmp/train1.txt"
# Adding files keeps the old files where they were.
mkdir -p "$tmp/more/tone" "$tmp/more/noise" "$tmp/more/chirp"
mk "$tmp/more" 16
for d in tone noise chirp; do
  for f in "$tmp/more/$d"/*; do b=$(basename "$f"); [ -e "$tmp/ds/$d/$b" ] || cp "$f" "$tmp/ds/$d/x$b"; done
done
"$B/clar-enroll" --model "$M" --data "$tmp/ds" --out "$tmp/l2.safetensors" 2> "$tmp/en2.log"
grep ' <- ' "$tmp/en2.log" | sed 's/.* <- //' | grep -v '/x[tnc][0-9]*\.wav$' | sort > "$tmp/train2.txt"
# No train clip becomes a test clip (which would put a model's training clips
# into its evaluation); a clip can only come back from val to train when its
# class no longer needs it held out (dataset.h, the small-class rule).
check "adding 18 files moves no train file to val" "[ -z \"\$(comm -23 '$tmp/train1.txt' '$tmp/train2.txt')\" ]"
check "and at most one file per class from val to train" "[ \$(comm -13 '$tmp/train1.txt' '$tmp/train2.txt' | wc -l) -le 3 ]"
"$B/clar-enroll" --model "$M" --data "$tmp/ds" --val-fraction 0 --out "$tmp/l3.safetensors" 2> "$tmp/en3.log"
check "--val-fraction 0 enrolls every clip" "[ \$(grep -c ' <- ' '$tmp/en3.log') -eq 48 ]"
"$B/clar-eval" --model "$M" --data "$tmp/ds" --val-fraction 0 > /dev/null 2> "$tmp/x.log"
check "--val-fraction 0: no test split, said so" "[ $? -ne 0 ] && grep -q 'no clips in split val (--val-fraction is 0)' '$tmp/x.log'"
"$B/clar-eval" --model "$M" --data "$tmp/ds" --val-fraction 2 > /dev/null 2> "$tmp/x.log"
check "--val-fraction 2 is refused" "[ $? -eq 2 ] && grep -q 'val-fraction needs a number' '$tmp/x.log'"

# Overlap: by path and by content.
printf 'path\tlabel\tsplit\n' > "$tmp/ds/over.tsv"
for i in 1 2 3 4; do printf 'tone/t%d.wav\ttone\ttrain\nnoise/n%d.wav\tnoise\ttrain\n' $i $i >> "$tmp/ds/over.tsv"; done
printf 'tone/t5.wav\ttone\tval\nnoise/n5.wav\tnoise\tval\ntone/t1.wav\ttone\tval\n' >> "$tmp/ds/over.tsv"
cp "$tmp/ds/noise/n2.wav" "$tmp/ds/noise/copy-of-n2.wav"
printf 'noise/copy-of-n2.wav\tnoise\tval\n' >> "$tmp/ds/over.tsv"
"$B/clar-eval" --model "$M" --data "$tmp/ds/over.tsv" > "$tmp/o.txt" 2> "$tmp/o.log"
check "test clips equal to train clips: refused" \
  "[ $? -eq 1 ] && grep -q 'refusing: 2 of 4 test clips .* 1 by path, 1 by identical file content' '$tmp/o.log'"
"$B/clar-eval" --model "$M" --data "$tmp/ds/over.tsv" --exclude-overlap > "$tmp/o.txt" 2> "$tmp/o.log"
check "--exclude-overlap scores the other 2, loudly" \
  "[ $? -eq 0 ] && grep -q 'WARNING: those clips are excluded; 2 test clips remain' '$tmp/o.log' && grep -q '^split val: 2 test clips' '$tmp/o.txt'"
rm "$tmp/ds/noise/copy-of-n2.wav" "$tmp/ds/over.tsv"

# Dropped files: a corrupt file, a 0.1 s clip; GStreamer-refused formats.
mkdir -p "$tmp/fmt/tone" "$tmp/fmt/noise"
for i in $(seq 1 9); do
  sox -R -n -r 16000 -c 1 "$tmp/fmt/tone/t$i.wav" synth 1.1 sine $((200 + i * 37)) vol 0.5
  sox -R -n -r 16000 -c 1 "$tmp/fmt/noise/n$i.wav" synth 1.1 whitenoise vol 0.$((10 + i))
done
sox -R -n -r 8000 -c 1 "$tmp/fmt/tone/raw.gsm" synth 1.5 sine 500 vol 0.5
sox -R -n -r 44100 -c 2 "$tmp/fmt/tone/apple.caf" synth 1.5 sine 600 vol 0.5
sox -R -n -r 22050 -c 1 "$tmp/fmt/tone/mac.aiff" synth 1.5 sine 700 vol 0.5
sox -R -n -r 16000 -c 1 -b 16 "$tmp/fmt/tone/trail.wav" synth 1.5 sine 800 vol 0.5
printf 'x' >> "$tmp/fmt/tone/trail.wav"
sox -R -n -r 16000 -c 1 "$tmp/fmt/noise/short.wav" synth 0.05 whitenoise vol 0.2
head -c 3000 /dev/urandom > "$tmp/fmt/noise/broken.wav"
run_enroll () { "$B/clar-enroll" --model "$M" --data "$tmp/fmt" --val-fraction 0 --cache "$tmp/cache" \
  --out "$tmp/f.safetensors" "$@"; }
run_enroll > /dev/null 2> "$tmp/f1.log"
check "2 of 24 files unusable: refused above the default 5%" \
  "[ $? -eq 1 ] && grep -q 'refusing: 2 of 24 files (8.3%) could not be used' '$tmp/f1.log'"
check "the count and each reason are printed" \
  "grep -q '24 files, 22 used, 2 dropped: 1 cannot decode.*broken.wav); 1 shorter than 0.10 of a window (0.100 s) (e.g. .*short.wav)' '$tmp/f1.log'"
run_enroll --max-dropped 0.1 > /dev/null 2> "$tmp/f2.log"
check "--max-dropped 0.1 accepts them" "[ $? -eq 0 ]"
check "the second run decodes from the cache" "grep -q 'decoded audio from cache' '$tmp/f2.log'"
check "and still reports the dropped files" "grep -q '24 files, 22 used, 2 dropped: 1 cannot decode' '$tmp/f2.log'"
check ".aiff read" "grep -q 'tone <- .*mac.aiff' '$tmp/f2.log'"
check ".wav with a trailing byte after the data chunk read" "grep -q 'tone <- .*trail.wav' '$tmp/f2.log'"
if [ "${CLAR_HAVE_SNDFILE:-0}" = 1 ]; then
  check "headerless .gsm read (libsndfile)" "grep -q 'tone <- .*raw.gsm' '$tmp/f2.log'"
  check ".caf read (libsndfile)" "grep -q 'tone <- .*apple.caf' '$tmp/f2.log'"
  # The same samples as sox decodes: correlation of the two decodings.
  sox "$tmp/fmt/tone/apple.caf" -r 16000 -c 1 "$tmp/apple.wav"
  "$B/clar-embed" --model "$M" --embeddings "$tmp/fmt/tone/apple.caf" > "$tmp/a1.json" 2>/dev/null
  "$B/clar-embed" --model "$M" --embeddings "$tmp/apple.wav" > "$tmp/a2.json" 2>/dev/null
  /usr/bin/python3 - "$tmp/a1.json" "$tmp/a2.json" > "$tmp/cos.txt" <<'PY'
import json, sys
a = [json.loads(l)["embedding"] for l in open(sys.argv[1])]
b = [json.loads(l)["embedding"] for l in open(sys.argv[2])]
print(len(a) == len(b) and len(a) > 0 and min(sum(x * y for x, y in zip(u, v)) for u, v in zip(a, b)) > 0.99)
PY
  check ".caf through libsndfile embeds like sox's decoding (cosine > 0.99)" "grep -q True '$tmp/cos.txt'"
else
  echo "built without libsndfile: .gsm/.caf checks skipped"
fi

# Short clips: clar-embed's windows follow the element (eos-min-fill 0.5), the
# clip tools (clar-eval, clar-embed --clip) keep clips down to a tenth of a
# window, as the trainer does.
sox -R -n -r 16000 -c 1 "$tmp/s03.wav" synth 0.3 sine 440 vol 0.5
sox -R -n -r 16000 -c 1 "$tmp/s06.wav" synth 0.6 sine 440 vol 0.5
n03=$("$B/clar-embed" --model "$M" "$tmp/s03.wav" 2>/dev/null | grep -c '"start"')
n06=$("$B/clar-embed" --model "$M" "$tmp/s06.wav" 2>/dev/null | grep -c '"start"')
check "clar-embed: 0.3 s gives no window, 0.6 s one ($n03, $n06)" "[ $n03 -eq 0 ] && [ $n06 -eq 1 ]"
printf 'path\tlabel\tsplit\n' > "$tmp/short.tsv"
for i in 1 2 3; do printf 'ds/tone/t%d.wav\ttone\ttrain\nds/noise/n%d.wav\tnoise\ttrain\n' $i $i >> "$tmp/short.tsv"; done
printf 's03.wav\ttone\tval\ns06.wav\ttone\tval\nds/noise/n9.wav\tnoise\tval\n' >> "$tmp/short.tsv"
"$B/clar-eval" --model "$M" --data "$tmp/short.tsv" --min-fill 0.5 --max-dropped 0.5 > "$tmp/s.txt" 2> "$tmp/s.log"
check "clar-eval --min-fill 0.5 drops the 0.3 s clip and says why, keeps the 0.6 s one" \
  "grep -q 'split val): 3 files, 2 used, 1 dropped: 1 shorter than 0.50 of a window' '$tmp/s.log' && grep -q '^split val: 2 test clips' '$tmp/s.txt'"
# By default the clip tools keep what the trainer keeps, a tenth of a window.
"$B/clar-eval" --model "$M" --data "$tmp/short.tsv" > "$tmp/s1.txt" 2> "$tmp/s1.log"
n01=$("$B/clar-embed" --model "$M" --min-fill 0.1 "$tmp/s03.wav" 2>/dev/null | grep -c '"start"')
c03=$("$B/clar-embed" --model "$M" --clip "$tmp/s03.wav" 2>/dev/null | grep -c '"windows":1,')
check "by default clar-eval and clar-embed --clip keep the 0.3 s clip (zero-padded), as clar-embed --min-fill 0.1" \
  "grep -q 'split val): 3 files, 3 used, 0 dropped' '$tmp/s1.log' && grep -q '^split val: 3 test clips' '$tmp/s1.txt' && [ $n01 -eq 1 ] && [ $c03 -eq 1 ]"
sox -R -n -r 16000 -c 1 "$tmp/s005.wav" synth 0.05 sine 440 vol 0.5
printf 's005.wav\ttone\tval\n' >> "$tmp/short.tsv"
"$B/clar-eval" --model "$M" --data "$tmp/short.tsv" --max-dropped 0.5 > /dev/null 2> "$tmp/s3.log"
check "clar-eval drops a 0.05 s clip and says why" \
  "grep -q 'split val): 4 files, 3 used, 1 dropped: 1 shorter than 0.10 of a window' '$tmp/s3.log'"
"$B/clar-eval" --model "$M" --data "$tmp/short.tsv" --min-fill 0 > /dev/null 2> "$tmp/s2.log"
check "--min-fill 0 is refused" "grep -q 'min-fill needs a number' '$tmp/s2.log'"
echo "$fails failed"
[ $fails -eq 0 ]
