#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every command README.md shows is run as written (issue 17 item 6), or is
listed here with the reason it cannot run inside the test suite.

Commands are the lines of indented code blocks that start with a program,
and inline code spans that start with _build/, tools/, bench/, meson,
gst-launch-1.0, gst-inspect-1.0, apt-get, rm or OPENBLAS_CORETYPE=. Each must
match exactly one rule below; a command no rule knows fails the test, so a
new README command needs a rule (run it, or say why not).

Placeholders are filled in: _build -> this build, FILE -> a clip made here,
speech.ogg -> a clip made here, MODEL -> dropped (the default model). gst-launch
lines run under `meson devenv -C _build`, as the README says to work. The
live microphone line runs with audiotestsrc is-live=true in place of
autoaudiosrc (no microphone on a CI machine)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

SRC = os.environ["CLAR_SOURCE_ROOT"]
BUILD = os.environ["CLAR_BUILD_ROOT"]
PROGRAM = re.compile(r"^(\w+=\S+\s+)*(tools/|_build/|bench/|gst-launch-1\.0|gst-inspect-1\.0|"
                     r"meson|apt-get|python3|rm|cp|sox)\b")
INLINE = re.compile(r"^(_build/|tools/|bench/|meson |gst-launch-1\.0 |gst-inspect-1\.0 |"
                    r"apt-get |rm |OPENBLAS_CORETYPE=)")


def readme_commands(text):
    out, fence, prev_blank, in_block = [], False, True, False
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("```"):
            fence = not fence
        elif not fence and ln.startswith("    ") and ln.strip() and (prev_blank or in_block):
            in_block = True
            cmd = ln.strip()
            while cmd.endswith("\\") and i + 1 < len(lines):
                i += 1
                cmd = cmd[:-1].rstrip() + " " + lines[i].strip()
            if PROGRAM.match(cmd):
                out.append(re.sub(r"\s+#.*$", "", cmd))
        else:
            in_block = in_block and bool(ln.strip()) and ln.startswith("    ")
        prev_blank = not ln.strip()
        i += 1
    # Inline code spans (not inside fences).
    body = re.sub(r"```.*?```", "", text, flags=re.S)
    for m in re.finditer(r"`([^`\n]+)`", body):
        if INLINE.match(m.group(1)):
            out.append(m.group(1))
    return out


def main():
    tmp = tempfile.mkdtemp(prefix="clar-readme-")
    env = dict(os.environ)
    env["PATH"] = "/usr/bin:/bin:" + env.get("PATH", "")   # Debian's python3 (python3-gi)
    env["GST_REGISTRY_1_0"] = os.path.join(tmp, "registry.bin")
    for k in ("GST_PLUGIN_PATH", "CLAR_MODEL"):
        env.pop(k, None)
    clip = os.path.join(tmp, "clip.wav")
    def gen(*src):   # 2.5 s of audiotestsrc SRC properties at 16 kHz mono, then what follows
        return ["gst-launch-1.0", "-q", "audiotestsrc", *src, "num-buffers=25",
                "samplesperbuffer=1600", "!", "audio/x-raw,rate=16000,channels=1", "!"]
    noise = gen("wave=pink-noise")
    subprocess.run(noise + ["wavenc", "!", "filesink", f"location={clip}"], check=True, env=env)
    subprocess.run(noise + ["audioconvert", "!", "vorbisenc", "!", "oggmux", "!", "filesink",
                            f"location={os.path.join(tmp, 'speech.ogg')}"], check=True, env=env)
    # The event commands' scene: a steady 1 kHz tone, which the shipped head
    # names (flute) well above its instrument thresholds. Pink noise is
    # named "noise" with scores near that label's calibrated on-threshold
    # (0.85-0.9), so whether its windows make an event depends on the draw.
    scene = os.path.join(tmp, "scene.wav")
    subprocess.run(gen("wave=sine", "freq=1000") + ["wavenc", "!", "filesink", f"location={scene}"],
                   check=True, env=env)
    fails = 0

    def sh(cmd, cwd=SRC, devenv=False, extra_env=None):
        e = dict(env, **(extra_env or {}))
        if devenv:
            cmd = f"meson devenv -C {BUILD} -w {cwd} bash -c {sh_quote(cmd)}"
        p = subprocess.run(["bash", "-c", cmd], cwd=cwd, env=e, capture_output=True, text=True,
                           timeout=300, stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout + p.stderr

    def fill(cmd, file=None):
        file = file or clip
        cmd = re.sub(r"(?<![\w/.-])_build(?=[/ ]|$)", BUILD, cmd)
        cmd = cmd.replace("FILE|--mic [MODEL]", file).replace(" FILE", " " + file)
        return cmd.replace(" [MODEL]", "")

    def ok(out, *needles):
        return all(n in out for n in needles) and "CRITICAL" not in out

    def run_launch(cmd):
        rc, out = sh(fill(cmd), cwd=tmp, devenv=True)
        return rc == 0 and ok(out, "element): clarembed, timestamp"), out

    def run_live(cmd):
        cmd = cmd.replace("autoaudiosrc",
                          "audiotestsrc is-live=true num-buffers=40 samplesperbuffer=800")
        return run_launch(cmd)

    def run_monitor_c(cmd):
        rc, out = sh(fill(cmd), devenv=True)
        good = rc == 0 and ok(out, "windows carried a GstClarMeta")
        # Outside devenv the plugin is not found: a clear error, no CRITICAL.
        rc2, out2 = sh(fill(cmd))
        good = good and rc2 == 1 and ok(out2, "GST_PLUGIN_PATH")
        return good, out + "\n--- outside devenv ---\n" + out2

    def run_monitor_py(cmd):
        rc, out = sh(fill(cmd))
        # The sanitizer build has no typelib: the example then only counts metas.
        typelib = os.path.exists(os.path.join(BUILD, "plugin", "GstClar-1.0.typelib"))
        return rc == 0 and ok(out, "bus ", *(["meta "] if typelib else [])), out

    def run_plain(*needles):
        def f(cmd):
            rc, out = sh(fill(cmd))
            return rc == 0 and ok(out, *needles), out
        return f

    def run_in_devenv(*needles, file=None):
        def f(cmd):
            rc, out = sh(fill(cmd, file), devenv=True)
            return rc == 0 and ok(out, *needles), out
        return f

    def run_batch_launch(cmd):
        rc, out = sh(fill(cmd), cwd=tmp, devenv=True)
        return rc == 0 and ok(out, "element): clarembed, timestamp", "batch-size=(uint)2"), out

    def run_events_launch(cmd):
        # The shipped per-label thresholds: README's path is from the source root.
        cmd = fill(cmd).replace("location=scene.wav", f"location={scene}").replace(
            "=models/", f"={SRC}/models/")
        rc, out = sh(cmd, cwd=tmp, devenv=True)
        return rc == 0 and ok(out, "clarembed-event, kind=(string)start",
                              "clarembed-event, kind=(string)end"), out

    def run_mkmodel(cmd):
        path = os.path.join(tmp, "m.safetensors")
        rc, out = sh(fill(cmd).replace(" -o " + clip, " -o " + path))
        return rc == 0 and os.path.getsize(path) > 0, out

    def run_rm_registry(cmd):
        home = os.path.join(tmp, "home")
        os.makedirs(os.path.join(home, ".cache", "gstreamer-1.0"))
        reg = os.path.join(home, ".cache", "gstreamer-1.0", "registry.x86_64.bin")
        open(reg, "w").close()
        rc, out = sh(cmd, extra_env={"HOME": home})
        return rc == 0 and not os.path.exists(reg), out

    def run_devenv_shell(cmd):
        rc, out = sh(fill(cmd) + " true")
        return rc == 0, out

    rules = [
        (r"tools/bootstrap\.sh (demo|test)$",
         "the README's two commands: .ci/run runs the test command, which runs this suite"),
        (r"gst-launch-1\.0 -m filesrc location=speech\.ogg", run_launch),
        (r"gst-launch-1\.0 -m autoaudiosrc", run_live),
        (r"gst-launch-1\.0 -m audiotestsrc num-buffers=10 .*fixture\.safetensors", run_launch),
        (r"gst-launch-1\.0 -m filesrc location=scene\.wav", run_events_launch),
        (r"gst-launch-1\.0 -m audiotestsrc wave=pink-noise .* clarembed batch-group=g ",
         run_batch_launch),
        (r"_build/tools/clar-embed --events FILE$", run_in_devenv('"label":"', file=scene)),
        (r"_build/tools/clar-embed --events( --hop 0\.25)?( --event-smoothing median:3)? "
         r"--event-thresholds models/clar-default\.events(-hop025)?\.tsv FILE$",
         run_in_devenv('"label":"', file=scene)),
        (r"tools/events/",
         "minutes of scene generation and scoring (models/README.md); "
         "tests/test-events-scenes.sh runs a small version (calibrate.sh included), "
         "tests/python/test_sed_metrics.py checks the metrics, test_calibrate.py "
         "the calibration"),
        (r"meson setup _build --prefix /opt/clar",
         "a full build and install; tests/test-install.sh installs this build with "
         "meson install --destdir and runs it with only GST_PLUGIN_PATH"),
        (r"OPENBLAS_CORETYPE=\w+( +gst-launch-1\.0 \.\.\.)?$",
         "a template ('...'); test-runtime-coretype* run with the variable set"),
        (r"_build/tools/clar-(train|eval) --(data|model) (data/|run1/|M --data data/)",
         "needs data/ from tools/data/build_data.py (3.8 GB of Debian packages); "
         "test-train-e2e runs clar-train and clar-eval on generated data"),
        (r"_build/examples/clar-monitor FILE", run_monitor_c),
        (r"meson devenv -C _build -w \. python3 examples/clar-monitor\.py FILE", run_monitor_py),
        (r"meson devenv -C _build$", run_devenv_shell),
        (r"meson introspect _build --buildoptions$", run_plain('"name": "prefix"')),
        (r"gst-inspect-1\.0 -b$", run_plain()),
        (r"gst-inspect-1\.0 clarembed$", run_in_devenv("model-location", "min-rms")),
        (r"gst-inspect-1\.0 clarpublish$", run_in_devenv("queue-size", "messages-dropped")),
        (r"gst-launch-1\.0 autoaudiosrc .* clarpublish method=mqtt",
         "needs an MQTT broker and a microphone; test-clarpublish-mqtt runs live audiotestsrc "
         "! clarembed ! clarpublish method=mqtt against its own mosquitto on 127.0.0.1"),
        (r"python3 examples/clar-store\.py",
         "needs an MQTT broker; test-clarpublish-mqtt runs clar-store.py against its own "
         "mosquitto on 127.0.0.1 and checks what it stored"),
        (r"rm ~/\.cache/gstreamer-1\.0/registry\.\*\.bin$", run_rm_registry),
        (r"_build/tools/clar-mkmodel (--arch dsres )?-o FILE$", run_mkmodel),
        (r"meson test -C _build -v test_mel_torchaudio test_encoder_torch$",
         "the reference suite of this same test run"),
        (r"meson (install|setup)( --destdir)?$", "names a step of a command above"),
        (r"gst-launch-1\.0 -m$", "names an option of the commands above"),
        (r"apt-get install libblis-dev && meson setup _build-blis -Dblas=blis$",
         "the test command builds _build-blis and runs the core suite on it"),
        (r"bench/", "benchmarks (minutes of timing; bench/README.md), not tests"),
        (r"_build/bench/bench-train 32 4 2 dsres freeze$",
         run_plain("(encoder frozen)", "frozen-encoder step / full step:")),
        (r"tools/(clap-study|label-fraction|train-text-tower)\.sh", "needs data/ (tools/data/build_data.py)"),
        (r"tools/data/build_data\.py$", "downloads 3.8 GB; test-build-data checks it offline"),
        (r"tools/data/build_data\.py --only-mine( --out data-mined --base data"
         r"| --out data-(mine6|v6|v7) --base data --debs data/debs --debs mine6-debs)?$",
         "needs data/ from tools/data/build_data.py; test_mine_data runs --only-mine on "
         "generated packages (with two --debs folders too)"),
        (r"tools/data/build_data\.py --sets (stk|instruments,stk) --out data-(mined|v6|v7) --base data$",
         "needs data/ from tools/data/build_data.py; test-build-data builds the stk set "
         "in quick mode and checks its notes"),
        (r"tools/data/build_data\.py --sets words --out data-v8 --base data-v7$",
         "needs data-v7/ (the commands above it); test_build_data_merge runs the merge over "
         "a base built on another base and the real-voice digits on generated files"),
        (r"tools/data/build_data\.py --sets instruments --out data-v9 --base data-v8$",
         "needs data-v8/ (the commands above it); test-build-data renders FluidR3 through "
         "fluidsynth and timidity in quick mode and checks the timidity notes"),
        (r"tools/data/build_data\.py --sets words,voices --out data-v10 --base data-v9$",
         "needs data-v9/ (the commands above it); test-build-data builds the words (festival "
         "among them) and the voices pool in quick mode and checks the pool"),
        (r"tools/data/build_data\.py --sets pool --out data-v11 --base data-v10$",
         "needs data-v10/ (the commands above it); test-build-data builds the pool set in "
         "quick mode and checks it, and mined_tables on a chain of bases"),
        (r"tools/data/build_data\.py --sets instruments-wide --out data-v12 --base data-v10$",
         "needs data-v10/ (the commands above it); test-build-data builds the instruments-wide "
         "set in quick mode and checks its register, lengths and splits"),
        (r"rm data/\.done-mined && tools/data/build_data\.py --only-mine --out data$",
         "needs data/ of version 13 (the commands above it); test_mine_data runs --only-mine "
         "on generated packages and checks the late packages' split rule"),
        (r"rm data/\.done-mined && tools/data/build_data\.py --only-mine --out data --debs debs-v15$",
         "needs data/ of version 14 and the .deb files of the apt-get download line above it; "
         "test_mine_data runs --only-mine on a generated package of MINE_V15_PACKAGES"),
        (r"tools/data/build_data\.py --sets cries --out data$",
         "needs data/ of version 15 (the commands above it); test-build-data builds the cries "
         "set in quick mode and checks its clips"),
        (r"tools/data/build_data\.py --sets foley --out data$",
         "needs data/ of version 15 (the commands above it); test_foley builds the foley set "
         "in quick mode and checks its clips and rows"),
        (r"tools/data/build_data\.py --sets packed --out data$",
         "needs data/ of version 15 and Debian's archive; test_packed builds the packed set "
         "from generated packages of the same names"),
        (r"tools/set-labels\.py (--add|--blend|MODEL OUT/model\.safetensors NEW --labels A,B)$",
         "an option and a template of set-labels.py; test_set_labels runs --add, --blend and --labels"),
        (r"tools/new-class-lopo\.py( M MANIFEST --classes A,B)?$",
         "a name and a template of new-class-lopo.py; test_new_class_lopo runs it on a "
         "generated manifest against clar-enroll's prototype"),
        (r"tools/data/build_data\.py --sets lmms --out data$",
         "needs data/ of version 12 (the commands above it); test-build-data builds the lmms "
         "set in quick mode and checks its notes"),
        (r"_build/tools/clar-eval --model M --data data-v12/manifest-wide\.tsv",
         "needs data-v12/ (the command above it); test-data-split runs clar-eval "
         "--test-split on generated data"),
        (r"tools/data/(mine|foley|packed)\.py$",
         "a module of the builder, not a command (test_mine_data, test_foley, test_packed import them)"),
        (r"apt-get download$", "names what build_data.py runs"),
        (r"apt-get install$", "names the line build_data.py prints for a missing renderer"),
        (r"tools/data/tables/[\w.-]*$", "a data table of the builder, not a command "
         "(test-build-data reads them)"),
        (r"PYTHONPATH=python python3 -m clar\.onnx run-torch/",
         "needs run-torch/ from the torchrun commands beside it (data/ from build_data.py); "
         "test_pyclar_train runs clar.onnx on the model its torchrun run trains"),
    ]
    cmds = readme_commands(open(os.path.join(SRC, "README.md"), encoding="utf-8").read())
    ran = 0
    for cmd in cmds:
        hits = [r for r in rules if re.match(r[0], cmd)]
        if len(hits) != 1:
            print(f"FAIL {len(hits)} rules for README command: {cmd}")
            fails += 1
            continue
        action = hits[0][1]
        if isinstance(action, str):
            print(f"skip {cmd}  ({action})")
            continue
        good, out = action(cmd)
        ran += 1
        print(("ok   " if good else "FAIL ") + cmd)
        if not good:
            print("     " + out[-2000:].replace("\n", "\n     "))
            fails += 1
    print(f"{len(cmds)} README commands, {ran} run")
    if ran < 8:
        print("FAIL fewer README commands ran than expected")
        fails += 1
    shutil.rmtree(tmp, ignore_errors=True)
    return 1 if fails else 0


def sh_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


if __name__ == "__main__":
    sys.exit(main())
