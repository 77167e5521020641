# SPDX-License-Identifier: LGPL-2.1-or-later
"""What the Python tests share: the skip exit code, the source and build
trees, the shipped model, running a tools/ script, the in-tree package's
path, optional imports that skip the test, a
counter of named checks, a model file's metadata and a 16-bit WAV writer. The tests import it from their own folder (Python
puts a script's folder first on sys.path)."""
import contextlib
import json
import os
import struct
import subprocess
import sys

SKIP = 77

# The source tree (meson sets CLAR_SOURCE_ROOT; else the one this file is in)
# and the build tree (CLAR_BUILD_ROOT, set by meson only; None without it).
_TREE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROOT = os.environ.get("CLAR_SOURCE_ROOT") or _TREE
BUILD = os.environ.get("CLAR_BUILD_ROOT")
# The shipped default model.
DEFAULT_MODEL = os.path.join(ROOT, "models", "clar-default.safetensors")


def run_tool(script, *args):
    """Runs tools/SCRIPT (a Python program) with this interpreter; the
    completed process, its output captured as text."""
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", script), *args],
                          capture_output=True, text=True)


def pyclar_path():
    """The in-tree Python package (python/clar)."""
    return os.path.join(_TREE, "python")


@contextlib.contextmanager
def imports_or_skip(pyclar=False):
    """Imports in this block are optional: a missing module prints
    "skipping: <error>" and exits with SKIP. pyclar=True puts the in-tree
    package python/clar on sys.path first."""
    if pyclar:
        sys.path.insert(0, pyclar_path())
    try:
        yield
    except ImportError as e:
        print(f"skipping: {e}")
        sys.exit(SKIP)


def safetensors_metadata(path):
    """The __metadata__ of a safetensors file, read from its header alone
    (no numpy: python/clar/safetensors.py needs it to read tensors)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)).get("__metadata__", {})


class Checks:
    """check = Checks(); check(name, cond) prints "ok   name" or "FAIL name"
    and counts the failures in check.fails."""

    def __init__(self):
        self.fails = 0

    def __call__(self, name, cond):
        print(("ok   " if cond else "FAIL ") + name)
        if not cond:
            self.fails += 1

    def ran(self, name, proc):
        """Checks that the completed process proc exited 0; when it did
        not, prints its standard error and exits (what follows reads its
        output)."""
        self(name, proc.returncode == 0)
        if proc.returncode != 0:
            print(proc.stderr)
            self.exit()

    def exit(self, summary=True):
        """Exits 1 if a check failed, else 0; with summary, after the line
        "<n> failed"."""
        if summary:
            print(f"{self.fails} failed")
        sys.exit(1 if self.fails else 0)


def write_wav(path, x, rate=16000):
    """Writes the samples x (a numpy array in -1..1, clipped) as a mono
    16-bit WAV file."""
    import wave
    import numpy as np
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
