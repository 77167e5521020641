#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Seeds the committed fuzz corpora (tests/fuzz/corpus/{model,labels}/).

Usage: make-corpus.py CLAR_MKMODEL DEFAULT_MODEL OUTDIR
Seeds: tiny valid models from clar-mkmodel (with labels, with a text tower,
with batchnorm/avgpool layers; one with residual depthwise-separable
blocks), the same re-written with a small front end
(n_fft 64, 8 mels) so that one fuzz iteration is fast, the shipped default
model's header with truncated data and truncations of each at interesting
offsets (inside the length, inside the JSON, inside the data); label files
(a model's label set alone) and prompt texts. Only the standard library."""
import json
import os
import struct
import subprocess
import sys
import tempfile

ARCH = ('[{"op":"conv2d","name":"c1","in":1,"out":2,"kernel":3,"pad":1},'
        '{"op":"batchnorm2d","name":"bn1","channels":2,"eps":0.00001},{"op":"relu"},'
        '{"op":"maxpool2d","kernel":2},{"op":"avgpool2d","kernel":2},{"op":"global_avg_pool"},'
        '{"op":"linear","name":"embed","in":2,"out":4}]')
# Residual depthwise-separable blocks (dwconv2d with stride, nested
# residual_begin/residual_add), as in the dsres encoder.
RES_ARCH = ('[{"op":"conv2d","name":"c1","in":1,"out":2,"kernel":3,"pad":1},{"op":"relu"},'
            '{"op":"residual_begin"},{"op":"conv2d","name":"e","in":2,"out":4,"kernel":1},'
            '{"op":"relu"},{"op":"dwconv2d","name":"d","channels":4,"kernel":3,"pad":1},'
            '{"op":"residual_begin"},{"op":"relu"},{"op":"residual_add"},'
            '{"op":"conv2d","name":"p","in":4,"out":2,"kernel":1},{"op":"residual_add"},'
            '{"op":"dwconv2d","name":"s","channels":2,"kernel":3,"pad":1,"stride":2},'
            '{"op":"global_avg_pool"},{"op":"linear","name":"embed","in":2,"out":4}]')


def split(blob):
    n = struct.unpack('<Q', blob[:8])[0]
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def join(header, data):
    h = json.dumps(header, separators=(',', ':')).encode()
    return struct.pack('<Q', len(h)) + h + data


def small_frontend(blob):
    """Rewrites the front end to n_fft 64 / 8 mels (fresh HTK-like filterbank
    of the right shape: the loader checks the shape, not the values)."""
    header, data = split(blob)
    meta = header['__metadata__']
    meta.update({'clar.n_fft': '64', 'clar.win_length': '64', 'clar.hop_length': '32',
                 'clar.n_mels': '8', 'clar.window_samples': '1024', 'clar.hop_samples': '512'})
    tensors = {k: v for k, v in header.items() if k != '__metadata__'}
    out = b''
    new = {'__metadata__': meta}
    for name, t in sorted(tensors.items(), key=lambda kv: kv[1]['data_offsets'][0]):
        a, b = t['data_offsets']
        raw = data[a:b]
        shape = t['shape']
        if name == 'frontend.mel_filterbank':
            shape = [8, 33]
            raw = b''.join(struct.pack('<f', 1.0 if (j // 4) == i else 0.0)
                           for i in range(8) for j in range(33))
        new[name] = {'dtype': t['dtype'], 'shape': shape,
                     'data_offsets': [len(out), len(out) + len(raw)]}
        out += raw
    return join(new, out)


def labels_only(blob):
    header, data = split(blob)
    meta = header['__metadata__']
    t = header['labels.embeddings']
    a, b = t['data_offsets']
    return join({'__metadata__': {'clar.labels': meta['clar.labels'],
                                  'clar.logit_scale': meta['clar.logit_scale']},
                 'labels.embeddings': {'dtype': 'F32', 'shape': t['shape'],
                                       'data_offsets': [0, b - a]}}, data[a:b])


def truncations(blob):
    n = struct.unpack('<Q', blob[:8])[0]
    cuts = sorted({4, 8, 9, 8 + n // 2, 8 + n - 1, 8 + n, 8 + n + 1, len(blob) - 1})
    return [blob[:c] for c in cuts if 0 < c < len(blob)]


def main():
    mkmodel, default_model, outdir = sys.argv[1:4]
    mdir, ldir = os.path.join(outdir, 'model'), os.path.join(outdir, 'labels')
    os.makedirs(mdir, exist_ok=True)
    os.makedirs(ldir, exist_ok=True)

    def put(d, name, blob):
        with open(os.path.join(d, name), 'wb') as f:
            f.write(blob)

    with tempfile.TemporaryDirectory() as tmp:
        models = {}
        for name, arch, extra in [('tiny-labels', ARCH, ['--labels', 'a;b;c']),
                                  ('tiny-text', ARCH, ['--text-tower']),
                                  ('tiny-plain', ARCH, []),
                                  ('tiny-res', RES_ARCH, [])]:
            p = os.path.join(tmp, name)
            subprocess.run([mkmodel, '--seed', '1', '--architecture', arch, '--window', '4000',
                            '--hop', '2000', '-o', p] + extra, check=True)
            with open(p, 'rb') as f:
                models[name] = f.read()
    for name, blob in models.items():
        small = small_frontend(blob)
        put(mdir, name + '-small', small)
        for i, t in enumerate(truncations(small)):
            put(mdir, '%s-small-cut%d' % (name, i), t)
    put(mdir, 'tiny-labels-full', models['tiny-labels'])
    with open(default_model, 'rb') as f:
        default = f.read()
    n = struct.unpack('<Q', default[:8])[0]
    put(mdir, 'default-header-only', default[:8 + n])
    put(mdir, 'default-first-4k', default[:8 + n + 4096])

    lab = labels_only(models['tiny-labels'])
    put(ldir, 'labels-abc', lab)
    for i, t in enumerate(truncations(lab)):
        put(ldir, 'labels-abc-cut%d' % i, t)
    put(ldir, 'prompts-basic', b'speech\nflute\n# a comment\n  a dog barking  \n\n')
    put(ldir, 'prompts-semicolon', b'speech;flute;;a dog barking;#no')
    put(ldir, 'prompts-utf8', 'caf\u00e9 noise\n\u65e5\u672c\u8a9e\n\t\r\n'.encode())
    put(ldir, 'prompts-long', b'x' * 300 + b'\n' + b'y ' * 200)


if __name__ == '__main__':
    main()
