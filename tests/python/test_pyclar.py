# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Python package (python/clar) against libclar:

- a network built and "trained" in PyTorch (clar.nn.TrainNet, batch-norm in
  train mode, running statistics moved away from 0/1), exported by Python
  with batch-norm folded: libclar loads it and its forward equals the
  PyTorch eval-mode encoder within 1e-4 (relative), its labels score an
  embedding exactly as the PyTorch cosine head;
- the shipped model read by Python: PCM -> clar.nn.LogMel -> encoder ->
  unit embedding equals clar_session_embed within 1e-4; written back by
  clar.safetensors it loads in libclar with every key and tensor equal;
- the text tower: clar.text.features equals clar_text_features and the
  PyTorch tower's prompt vectors equal clar_text_embed;
- CLAP captions: clar.captions equals clar_clap_caption (trainer library)
  on metadata of every kind;
- bad files give clear Python errors (truncated, unknown op)."""
import ctypes
import json
import os
import tempfile

from clar_ctypes import Error, fptr, load_lib
from clar_testutil import ROOT, Checks, imports_or_skip

with imports_or_skip(pyclar=True):
    import numpy as np
    import torch
    from clar import captions, safetensors, text
    from clar.model import ModelFile, MelParams
    from clar.nn import ClarModel, Encoder, TrainNet

torch.set_num_threads(1)
torch.manual_seed(3)
rng = np.random.default_rng(3)
lib = load_lib()
P = ctypes.POINTER
lib.clar_model_get_labels.restype = ctypes.c_void_p
lib.clar_model_get_labels.argtypes = [ctypes.c_void_p]
lib.clar_model_get_fingerprint.restype = ctypes.c_char_p
lib.clar_model_get_fingerprint.argtypes = [ctypes.c_void_p]
lib.clar_model_check_labels.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
lib.clar_labels_count.restype = ctypes.c_size_t
lib.clar_labels_count.argtypes = [ctypes.c_void_p]
lib.clar_labels_name.restype = ctypes.c_char_p
lib.clar_labels_name.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
lib.clar_labels_score.argtypes = [ctypes.c_void_p, P(ctypes.c_float), P(ctypes.c_float),
                                  P(ctypes.c_float)]
lib.clar_model_get_text.restype = ctypes.c_void_p
lib.clar_model_get_text.argtypes = [ctypes.c_void_p]
lib.clar_text_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, P(ctypes.c_float)]


class TextParams(ctypes.Structure):
    _fields_ = [("seed", ctypes.c_uint32), ("n_buckets", ctypes.c_uint32),
                ("char_ngram", ctypes.c_int)]


lib.clar_text_features.argtypes = [P(TextParams), ctypes.c_char_p, P(ctypes.c_uint32),
                                   ctypes.c_size_t]

check = Checks()


def c_load(path):
    err = Error()
    m = ctypes.c_void_p()
    rc = lib.clar_model_load_file(path.encode(), ctypes.byref(m), ctypes.byref(err))
    if rc != 0:
        raise RuntimeError(err.message.decode())
    s = lib.clar_session_new(m, ctypes.byref(err))
    assert s, err.message
    return m, s


tmp = tempfile.mkdtemp()

# ---- 1. A Python-trained, Python-exported network in libclar ----
# The default layer list plus an explicit batch-norm (kept as its own
# layer) and an average pool, so every op's export path runs.
arch = [
    {"op": "conv2d", "name": "conv1", "in": 1, "out": 8, "kernel": 3, "pad": 1},
    {"op": "relu"}, {"op": "maxpool2d", "kernel": 2},
    {"op": "conv2d", "name": "conv2", "in": 8, "out": 16, "kernel": 3, "pad": 1},
    {"op": "batchnorm2d", "name": "bn2", "channels": 16},
    {"op": "relu"}, {"op": "avgpool2d", "kernel": 2},
    {"op": "conv2d", "name": "conv3", "in": 16, "out": 32, "kernel": 5, "pad": 2},
    {"op": "relu"}, {"op": "global_avg_pool"},
    {"op": "linear", "name": "embed", "in": 32, "out": 48},
]
# And a list with depthwise convs (stride 2) and residual blocks, nested
# (the inverted-residual block of the dsres list, model.h).
arch_res = [
    {"op": "conv2d", "name": "stem", "in": 1, "out": 8, "kernel": 3, "pad": 1},
    {"op": "relu"}, {"op": "maxpool2d", "kernel": 2},
    {"op": "residual_begin"},
    {"op": "conv2d", "name": "b1e", "in": 8, "out": 16, "kernel": 1, "pad": 0}, {"op": "relu"},
    {"op": "residual_begin"},
    {"op": "dwconv2d", "name": "b1d", "channels": 16, "kernel": 3, "pad": 1, "stride": 1},
    {"op": "relu"}, {"op": "residual_add"},
    {"op": "conv2d", "name": "b1p", "in": 16, "out": 8, "kernel": 1, "pad": 0},
    {"op": "residual_add"},
    {"op": "conv2d", "name": "b2e", "in": 8, "out": 24, "kernel": 1, "pad": 0}, {"op": "relu"},
    {"op": "dwconv2d", "name": "b2d", "channels": 24, "kernel": 3, "pad": 1, "stride": 2},
    {"op": "relu"},
    {"op": "conv2d", "name": "b2p", "in": 24, "out": 16, "kernel": 1, "pad": 0},
    {"op": "global_avg_pool"},
    {"op": "linear", "name": "embed", "in": 16, "out": 48},
]
names = ["alpha", "beta", "gamma", "delta"]


def trained_export(arch, tag):
    net = TrainNet(arch, n_classes=len(names), proj_dim=16, seed=5)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.3)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    for _ in range(3):   # move the running statistics and weights off their init
        mel = torch.randn(6, 64, 101) * 3 - 6
        h, z, logits = net(mel)
        (z.square().mean() + logits.logsumexp(1).mean()).backward()
        opt.step()
        opt.zero_grad()
    net.eval()
    mf = net.to_model_file(MelParams(), 16000, 8000, names, name="pytest")
    path = os.path.join(tmp, f"{tag}.safetensors")
    mf.save(path)
    return net, path


for arch_, tag in ((arch, "convs, batch-norm, pools"), (arch_res, "dwconv2d and residual blocks")):
    net, path = trained_export(arch_, tag.split(",")[0].split()[0])
    model, sess = c_load(path)
    worst = 0.0
    for T in (101, 57, 200):
        mel = (rng.standard_normal((64, T)) * 3 - 6).astype(np.float32)
        out = np.zeros(48, np.float32)
        assert lib.clar_session_encode_raw(sess, fptr(mel), T, fptr(out)) == 0
        with torch.no_grad():
            ref = net.encoder(torch.from_numpy(mel)[None, None]).numpy()[0]
        rel = float(np.abs(out - ref).max() / np.abs(ref).max())
        worst = max(worst, rel)
        print(f"python-exported model ({tag}), {T} frames: max |clar - torch| / max |torch| = {rel:.3g}")
    check(f"libclar forward of the Python export ({tag}) equals PyTorch "
          f"(worst {worst:.3g}, limit 1e-4)", worst < 1e-4)
    labels = lib.clar_model_get_labels(model)
    got = [lib.clar_labels_name(labels, i).decode() for i in range(lib.clar_labels_count(labels))]
    check(f"label names survive the export ({got})", got == names)
    fp_c = lib.clar_model_get_fingerprint(model).decode()
    check(f"clar.model.ModelFile.fingerprint() is libclar's ({tag}: {fp_c})",
          ModelFile.load(path).fingerprint() == fp_c)
    check(f"the export ties its labels to its encoder ({tag}: clar_model_check_labels is CLAR_OK)",
          lib.clar_model_check_labels(model, labels, None) == 0)
    mel = (rng.standard_normal((64, 101)) * 3 - 6).astype(np.float32)
    emb = np.zeros(48, np.float32)
    lib.clar_session_encode(sess, fptr(mel), 101, fptr(emb))
    probs = np.zeros(len(names), np.float32)
    lib.clar_labels_score(labels, fptr(emb), fptr(probs), None)
    with torch.no_grad():
        _, _, lg = net(torch.from_numpy(mel)[None])
        ref = torch.softmax(lg, 1).numpy()[0]
    d = float(np.abs(probs - ref).max())
    check(f"libclar label scores equal the PyTorch cosine head (max diff {d:.3g})", d < 1e-4)
    lib.clar_session_free(sess)
    lib.clar_model_unref(model)

# ---- 2. The shipped model through Python ----
shipped = os.path.join(ROOT, "models", "clar-default.safetensors")
if not os.path.exists(shipped):
    shipped = os.path.join(tmp, "convs.safetensors")
smf = ModelFile.load(shipped)
cm = ClarModel(smf)
model, sess = c_load(shipped)
D = smf.embedding_dim
worst = 0.0
t = np.arange(24011) / 16000
sigs = [(0.2 * rng.standard_normal(16000)).astype(np.float32),
        (0.5 * np.sin(2 * np.pi * 440 * t[:16000])).astype(np.float32),
        (0.3 * np.sin(2 * np.pi * (100 * t + 3000 * t * t))).astype(np.float32)]
for x in sigs:
    emb = np.zeros(D, np.float32)
    assert lib.clar_session_embed(sess, fptr(x), len(x), fptr(emb)) == 0
    with torch.no_grad():
        ref = cm.embed(torch.from_numpy(x)).numpy()[0]
    worst = max(worst, float(np.abs(emb - ref).max()))
check(f"PCM -> clar.nn.LogMel -> encoder equals clar_session_embed "
      f"(max abs diff of unit embeddings {worst:.3g}, limit 1e-4)", worst < 1e-4)
fp_c = lib.clar_model_get_fingerprint(model).decode()
check(f"ModelFile.fingerprint() of the shipped model is libclar's ({fp_c})",
      smf.fingerprint() == fp_c)
if smf.has_text and smf.metadata.get("clar.text.version", "1") != "1":
    # The shipped tower expands prompts with WordNet (libclar's wordnet.h);
    # clar.text mirrors the version-1 tower only and says so.
    try:
        text.tower_from_model(smf)
        check("clar.text refuses a WordNet tower it cannot mirror", False)
    except ValueError as e:
        check(f"clar.text refuses the shipped WordNet tower clearly ({e})", "WordNet" in str(e))
elif smf.has_text:
    tw = text.tower_from_model(smf)
    ctext = lib.clar_model_get_text(model)
    prompts = ["speech", "a flute note", "The sound of RAIN!", "the word seven", "x", "né à Zürich"]
    worst = 0.0
    with torch.no_grad():
        pv = tw(prompts).numpy()
    for i, p in enumerate(prompts):
        v = np.zeros(D, np.float32)
        assert lib.clar_text_embed(ctext, p.encode(), fptr(v)) == 0
        worst = max(worst, float(np.abs(v - pv[i]).max()))
    check(f"text tower prompt vectors equal clar_text_embed (max diff {worst:.3g})", worst < 1e-5)
lib.clar_session_free(sess)
lib.clar_model_unref(model)

# Round trip through clar.safetensors.
rt = os.path.join(tmp, "rt.safetensors")
smf.save(rt)
tens2, meta2 = safetensors.load(rt)
same = meta2 == smf.metadata and list(tens2) == list(smf.tensors) and all(
    np.array_equal(tens2[k], smf.tensors[k]) for k in tens2)
model, sess = c_load(rt)
lib.clar_session_free(sess)
lib.clar_model_unref(model)
check("the shipped model written back by clar.safetensors loads in libclar, keys and tensors equal", same)

# ---- 3. Text features ----
worst_ok = True
for seed, buckets, ngram in ((1, 4096, 3), (12345, 97, 0), (7, 1 << 20, 2), (0, 8192, 6)):
    tp = TextParams(seed, buckets, ngram)
    for p in ["speech", "A Flute-note, C#4!", "né à Zürich", "a", "  ", "x y z 123 w0rd",
              "the sound of a dog barking"]:
        ids = (ctypes.c_uint32 * 512)()
        n = lib.clar_text_features(ctypes.byref(tp), p.encode(), ids, 512)
        if list(ids[:n]) != text.features(p, seed, buckets, ngram):
            worst_ok = False
            print(f"features differ for {p!r} ({seed}, {buckets}, {ngram})")
check("clar.text.features equals clar_text_features", worst_ok)

# ---- 4. Captions against the trainer library ----
tl = os.environ.get("CLAR_TRAIN_LIBRARY")
if tl and os.path.exists(tl):
    tlib = ctypes.CDLL(tl)

    class Meta(ctypes.Structure):
        _fields_ = [(n, ctypes.c_char_p) for n in ("path", "label", "source", "group", "caption")]

    tlib.clar_clap_n_captions.argtypes = [P(Meta)]
    tlib.clar_clap_caption.argtypes = [P(Meta), ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
    metas = [
        ("d/p073_n70_v100.wav", "flute", "fluidsynth:FluidR3_GM", "program73", "flute, loud, reverb"),
        ("d/p000_n40_v60.wav", "keyboard", "fluidsynth", "program0", ""),
        ("d/x.wav", "brass", "fluidsynth", "program61", "brass, medium"),
        ("d/x.wav", "brass", "fluidsynth", "", ""),
        ("d/seven.wav", "seven", "espeak:en-gb-scotland+f2", "voice1", "seven, slow"),
        ("d/go.wav", "go", "flite:slt", "", "go, fast"),
        ("d/yes.wav", "yes", "espeak:en-029", "", ""),
        ("d/door.wav", "door_knock", "minetest-data", "g", ""),
        ("d/door.wav", "door_knock", "0ad-audio", "g", ""),
        ("d/door.wav", "door_knock", "", "", ""),
        ("d/s.wav", "silence", "gen", "", ""),
        ("d/n.wav", "noise", "gen", "", "pink noise"),
        ("d/n.wav", "noise", "gen", "", "Brown"),
        ("d/n.wav", "noise", "gen", "", "brownish hum"),
    ]
    bad = 0
    for m in metas:
        cm_ = Meta(*(x.encode() for x in m))
        n_c = tlib.clar_clap_n_captions(ctypes.byref(cm_))
        if n_c != captions.n_captions(*m):
            bad += 1
            print(f"n_captions differ for {m}: C {n_c}, Python {captions.n_captions(*m)}")
            continue
        for k in range(n_c):
            buf = ctypes.create_string_buffer(512)
            tlib.clar_clap_caption(ctypes.byref(cm_), k, buf, 512)
            if buf.value.decode() != captions.caption(*m, k):
                bad += 1
                print(f"caption {k} of {m}: C {buf.value!r}, Python {captions.caption(*m, k)!r}")
    check(f"clar.captions equals clar_clap_caption on {len(metas)} clips, every variant", bad == 0)
    # Augmentation building blocks and the schedule, against the C ones.
    from clar import augment
    from clar.train import lr_schedule
    f32p = P(ctypes.c_float)
    tlib.clar_resample_linear.argtypes = [f32p, ctypes.c_size_t, ctypes.c_double, ctypes.c_double,
                                          f32p, ctypes.c_size_t]
    tlib.clar_time_stretch.argtypes = [f32p, ctypes.c_size_t, ctypes.c_double, ctypes.c_size_t,
                                       f32p, ctypes.c_size_t]
    tlib.clar_fade.argtypes = [f32p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t]
    tlib.clar_lr_schedule.restype = ctypes.c_float
    tlib.clar_lr_schedule.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_long, ctypes.c_float,
                                      ctypes.c_float]
    x = (0.3 * np.sin(np.arange(30000) * 0.031) + 0.05 * rng.standard_normal(30000)).astype(np.float32)
    worst = 0.0
    for ratio, start in ((1.0, 0.0), (1.12246, 1234.5), (0.8909, -300.25)):
        out = np.zeros(16000, np.float32)
        tlib.clar_resample_linear(fptr(x), len(x), ratio, start, fptr(out), 16000)
        worst = max(worst, float(np.abs(out - augment.resample_linear(x, ratio, start, 16000)).max()))
    for rate, start in ((1.0, 0), (1.2, 500), (0.8333, 3000)):
        out = np.zeros(16000, np.float32)
        tlib.clar_time_stretch(fptr(x), len(x), rate, start, fptr(out), 16000)
        worst = max(worst, float(np.abs(out - augment.time_stretch(x, rate, start, 16000)).max()))
    for fi, fo in ((0, 0), (4000, 100), (16000, 16000)):
        a = x[:16000].copy()
        tlib.clar_fade(fptr(a), 16000, fi, fo)
        worst = max(worst, float(np.abs(a - augment.fade(x[:16000].copy(), fi, fo)).max()))
    check(f"clar.augment's resampling, WSOLA time stretch and fades equal "
          f"src/train/augment.c (max diff {worst:.3g})", worst < 1e-5)
    d = max(abs(tlib.clar_lr_schedule(s_, 100, 3000, 1e-3, 1e-5) - lr_schedule(s_, 100, 3000, 1e-3, 1e-5))
            for s_ in (0, 50, 99, 100, 1000, 2999, 3500))
    check(f"learning-rate schedule equals clar_lr_schedule (max diff {d:.3g})", d < 1e-9)
else:
    print("CLAR_TRAIN_LIBRARY not set: caption and augmentation comparisons not run")

# ---- 4b. Sampling: label fraction, balanced draws, worker shares ----
from clar import data as cdata
from clar.augment import AugmentConfig
from clar.train import Batches
clips = [cdata.Clip(f"c{i}.wav", label=("a" if i < 40 else "b" if i < 50 else None))
         for i in range(60)]
for c in clips:
    c.pcm = np.zeros(100, np.float32)
cls = cdata.index_classes(clips)
cdata.label_fraction(clips, len(cls), 0.1, 1)
kept = [sum(c.class_id == k for c in clips) for k in range(len(cls))]
check(f"label fraction 0.1 keeps ceil(0.1 n) labels per class ({kept})", kept == [4, 1])
cdata.index_classes(clips)
use = list(range(60))
one = Batches(clips, use, 8, 1, 0, 1000, AugmentConfig.none(), 3, False, 2)
two = [Batches(clips, use, 4, 2, r, 1000, AugmentConfig.none(), 3, False, 2) for r in (0, 1)]
same = all(np.array_equal(np.concatenate([two[0][s][0][:4], two[1][s][0][:4]]), one[s][0][:8])
           for s in (0, 7, 8))
check("2 workers' shares of a step are the clips and views of 1 worker with the global batch", same)


def class_shares(balance):
    """Shares of the unlabelled, "a" and "b" clips over 300 steps' draws."""
    src = Batches(clips, use, 6, 1, 0, 1000, AugmentConfig.none(), 3, balance, 2)
    counts = np.zeros(3)
    for s_ in range(300):
        for i in src.slots(s_):
            counts[clips[i].class_id + 1] += 1
    return counts / counts.sum()


share = class_shares(True)
check(f"--balanced draws each class (and the unlabelled) equally often ({np.round(share, 3)})",
      bool(np.all(np.abs(share - 1 / 3) < 0.03)))
# --balance 0.5 as clar-train: class shares proportional to sqrt(n_c) (40, 10, 10 clips).
share = class_shares(0.5)
want = np.sqrt([10, 40, 10]) / np.sqrt([10, 40, 10]).sum()
check(f"--balance 0.5 gives class shares proportional to sqrt(n_c) ({np.round(share, 3)} vs {np.round(want, 3)})",
      bool(np.all(np.abs(share - want) < 0.03)))

# ---- 5. Bad input ----
data = open(shipped, "rb").read()
errors = 0
for cut in (0, 7, 8, 100, len(data) // 2, len(data) - 1):
    try:
        safetensors.loads(data[:cut])
    except safetensors.SafetensorsError:
        errors += 1
check("truncated files raise SafetensorsError", errors == 6)
try:
    Encoder([{"op": "conv3d", "name": "x"}])
    check("an unknown op is refused", False)
except ValueError as e:
    check(f"an unknown op is refused: {e}", "conv3d" in str(e))

check.exit(summary=False)
