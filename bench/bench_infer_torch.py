# SPDX-License-Identifier: LGPL-2.1-or-later
"""The PyTorch/torchaudio side of bench/bench-infer.sh, on one thread:

  - the model file's encoder rebuilt as a torch module (clar.nn.Encoder:
    the layers in order, residual blocks as x + block(x)) with the same
    weights, torch.jit.trace + torch.jit.freeze, batch 1;
  - torchaudio.transforms.MelSpectrogram + log on one window;
  - the same window through libclar (ctypes), to report max |difference|
    of the log-mel and of the raw encoder output, and the torch/libclar
    time ratios measured in alternating pairs in this one process.

usage: bench_infer_torch.py MODEL LIBCLAR_SO [SECONDS_PER_FIGURE]
Prints "key value" lines."""
import ctypes
import json
import os
import statistics
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from clar_ctypes import Error, fptr  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchaudio  # noqa: E402
from clar.nn import Encoder  # noqa: E402

ROUNDS = 7
PAIRS = 21


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, h in header.items():
        assert h["dtype"] == "F32", name
        a, b = h["data_offsets"]
        tensors[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(h["shape"]).copy()
    return meta, tensors


def build(meta, tensors):
    arch = json.loads(meta["clar.architecture"])
    net = Encoder(arch)
    for layer, m in zip(arch, net.layers):
        for k, v in m.state_dict().items():
            if k != "num_batches_tracked":
                v.copy_(torch.from_numpy(tensors["encoder.%s.%s" % (layer["name"], k)]))
    return net.eval()


def calls_for(fn, seconds):
    """How many calls of fn take about `seconds`."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt > 0.02:
            return int(n * seconds / dt) + 1
        n *= 4


def time_calls(fn, seconds):
    """Median over ROUNDS of seconds per call (same method as bench-infer.c)."""
    n = calls_for(fn, seconds / ROUNDS)
    r = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        r.append((time.perf_counter() - t0) / n)
    return statistics.median(r)


def fastest_cpu(fn, n):
    """Smallest thread CPU time of one call of n (time.thread_time_ns): on a
    loaded machine it leaves out the time other processes held the core,
    as bench-infer.c's batched figures do."""
    best = float("inf")
    for _ in range(n):
        t0 = time.thread_time_ns()
        fn()
        best = min(best, time.thread_time_ns() - t0)
    return best * 1e-9


def paired_ratio(f_torch, f_clar, seconds):
    """time(f_torch) / time(f_clar) from PAIRS rounds that alternate the two
    (which goes first alternates too), each pair a fraction of a second
    apart: the machine's drift between the C program's run and this one's
    does not enter. Returns the median ratio and the lowest and highest."""
    n_t = calls_for(f_torch, seconds / (2 * PAIRS))
    n_c = calls_for(f_clar, seconds / (2 * PAIRS))
    ratios = []
    for k in range(PAIRS):
        t = {}
        for name, fn, n in (("t", f_torch, n_t), ("c", f_clar, n_c))[:: 1 if k % 2 else -1]:
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            t[name] = (time.perf_counter() - t0) / n
        ratios.append(t["t"] / t["c"])
    return statistics.median(ratios), min(ratios), max(ratios)


def main():
    model_path, lib_path = sys.argv[1], sys.argv[2]
    secs = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
    torch.set_num_threads(1)
    meta, tensors = read_safetensors(model_path)
    sr = int(meta["clar.sample_rate"])
    win = int(meta["clar.window_samples"])
    n_mels = int(meta["clar.n_mels"])
    log_offset = float(meta["clar.log_offset"])

    # The same signal as bench-infer.c (tone + noise); values differ, the cost does not.
    rng = np.random.default_rng(1)
    t = np.arange(win) / sr
    pcm = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * (rng.random(win) - 0.5)).astype(np.float32)

    mel_t = torchaudio.transforms.MelSpectrogram(
        sample_rate=sr, n_fft=int(meta["clar.n_fft"]), win_length=int(meta["clar.win_length"]),
        hop_length=int(meta["clar.hop_length"]), f_min=float(meta["clar.f_min"]),
        f_max=float(meta["clar.f_max"]), n_mels=n_mels, power=2.0,
        center=meta["clar.center"] == "1", pad_mode="reflect", norm=None, mel_scale="htk")
    # The model's own filterbank, so both sides compute the same function.
    mel_t.mel_scale.fb = torch.from_numpy(tensors["frontend.mel_filterbank"].T.copy())
    x = torch.from_numpy(pcm)

    def torch_logmel():
        with torch.inference_mode():
            return torch.log(mel_t(x) + log_offset)

    ref_mel = torch_logmel().numpy()
    net = build(meta, tensors)
    inp = torch.from_numpy(ref_mel.copy()).reshape(1, 1, n_mels, -1)
    with torch.inference_mode():
        traced = torch.jit.freeze(torch.jit.trace(net, inp))
        for _ in range(20):   # let the profiling executor settle
            traced(inp)
        ref_out = traced(inp).numpy().ravel()
        eager_out = net(inp).numpy().ravel()

    # libclar on the same input.
    lib = ctypes.CDLL(lib_path)
    P = ctypes.POINTER
    lib.clar_model_load_file.argtypes = [ctypes.c_char_p, P(ctypes.c_void_p), P(Error)]
    lib.clar_session_new.restype = ctypes.c_void_p
    lib.clar_session_new.argtypes = [ctypes.c_void_p, P(Error)]
    lib.clar_session_n_frames.restype = ctypes.c_size_t
    lib.clar_session_n_frames.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    lib.clar_session_pcm_to_mel.argtypes = [ctypes.c_void_p, P(ctypes.c_float), ctypes.c_size_t,
                                            P(ctypes.c_float), ctypes.c_size_t]
    lib.clar_session_encode_raw.argtypes = [ctypes.c_void_p, P(ctypes.c_float), ctypes.c_size_t,
                                            P(ctypes.c_float)]
    err = Error()
    model = ctypes.c_void_p()
    assert lib.clar_model_load_file(model_path.encode(), ctypes.byref(model), ctypes.byref(err)) == 0, \
        err.message
    sess = lib.clar_session_new(model, ctypes.byref(err))
    T = lib.clar_session_n_frames(sess, win)
    cmel = np.zeros((n_mels, T), dtype=np.float32)
    assert lib.clar_session_pcm_to_mel(sess, fptr(pcm), win, fptr(cmel), T) == 0
    cout = np.zeros(ref_out.size, dtype=np.float32)
    mel_in = np.ascontiguousarray(ref_mel, dtype=np.float32)
    assert lib.clar_session_encode_raw(sess, fptr(mel_in), T, fptr(cout)) == 0

    t_mel = time_calls(torch_logmel, secs)

    def fwd():
        with torch.inference_mode():
            traced(inp)

    t_enc = time_calls(fwd, secs)
    # The same ratios measured pairwise in this process; libclar through
    # ctypes, whose per-call cost (about 1 us) counts against libclar.
    p_pcm, p_cmel, p_mel_in, p_cout = fptr(pcm), fptr(cmel), fptr(mel_in), fptr(cout)
    mel_ratio = paired_ratio(torch_logmel,
                             lambda: lib.clar_session_pcm_to_mel(sess, p_pcm, win, p_cmel, T), secs)
    enc_ratio = paired_ratio(fwd, lambda: lib.clar_session_encode_raw(sess, p_mel_in, T, p_cout), secs)
    # Batched: torch traced+frozen at batch B against clar_session_encode_batch
    # on the same B windows, fastest call in thread CPU time for both (batch 1
    # by the same measure, for the comparison).
    lib.clar_session_encode_batch.argtypes = [ctypes.c_void_p, P(ctypes.c_float), ctypes.c_size_t,
                                              ctypes.c_size_t, P(ctypes.c_float)]
    lib.clar_session_encode_batch.restype = ctypes.c_int
    batched = []
    for B in (1, 16):
        inp_b = inp.repeat(B, 1, 1, 1).contiguous()
        with torch.inference_mode():
            tr_b = torch.jit.freeze(torch.jit.trace(net, inp_b))
            for _ in range(20):
                tr_b(inp_b)

        def fwd_b():
            with torch.inference_mode():
                tr_b(inp_b)
        mel_b = np.ascontiguousarray(np.repeat(mel_in[None], B, axis=0), dtype=np.float32)
        out_b = np.zeros(B * ref_out.size, dtype=np.float32)
        p_mel_b, p_out_b = fptr(mel_b), fptr(out_b)
        n = 400 if B == 1 else 60
        t_t = fastest_cpu(fwd_b, n) / B
        t_c = fastest_cpu(lambda: lib.clar_session_encode_batch(sess, p_mel_b, B, T, p_out_b), n) / B
        batched.append((B, t_t, t_c))
    print("torch_version %s" % torch.__version__)
    print("torch_threads %d" % torch.get_num_threads())
    print("torch_mel_ms %.4f" % (t_mel * 1e3))
    print("torch_mel_audio_s_per_s %.1f" % (win / sr / t_mel))
    print("torch_encoder_ms %.4f" % (t_enc * 1e3))
    print("paired_mel_ratio %.2f (min %.2f, max %.2f, %d pairs)" % (mel_ratio + (PAIRS,)))
    print("paired_encoder_ratio %.2f (min %.2f, max %.2f, %d pairs)" % (enc_ratio + (PAIRS,)))
    print("logmel_max_abs_diff %.3g" % np.abs(cmel - ref_mel).max())
    print("encoder_max_abs_diff %.3g" % np.abs(cout - ref_out).max())
    print("encoder_max_rel_diff %.3g" % (np.abs(cout - ref_out).max() / np.abs(ref_out).max()))
    for B, t_t, t_c in batched:
        print("cpu_fastest_batch_%d_ms_per_window torch %.4f clar %.4f ratio %.2f" % (
            B, t_t * 1e3, t_c * 1e3, t_t / t_c))
    print("torch_traced_vs_eager_max_abs_diff %.3g" % np.abs(eager_out - ref_out).max())


if __name__ == "__main__":
    main()
