"""README.md's C++ snippets, compiled and run as written.

Every ```cpp block of README.md (read when the test runs, so the README as it
is now is what is tested) becomes one translation unit. A block with its own
`int main` is compiled as it is. Any other block is a fragment: its #include
lines stay at the top, after which come <r2plus1d/r2plus1d.hpp>, <iostream>,
<string> and <string_view>, and the rest of it becomes the body of

    int main(int argc, char** argv) { using namespace r2plus1d; PRELUDE ... }

PRELUDE defines the names the fragments assume:

    clips    a (1, 3, 16, 112, 112) float clip (0.5 everywhere)
    argv[1]  a short video (clip.mkv, testsrc2, 20 frames)
    argv[2]  r2plus1d_18's weights (r2plus1d_18.safetensors)

Each unit is compiled with the project's compiler, include directories and
OpenMP flag, -std=c++17 -O1 -Wall -Werror (FFmpeg's flags from pkg-config for a
block that includes <r2plus1d/io/video.hpp>; such a block is skipped, saying
so, where FFmpeg's libraries were not found), and run, as `PROGRAM clip.mkv
r2plus1d_18.safetensors`, in a scratch directory holding the files the
snippets read: r2plus1d.safetensors, r2plus1d_18.safetensors and clips.npy
(written by readme_snippet_files, with the library) and clip.mkv (made by
ffmpeg). Every program must exit 0; one that names "features.npy" must leave
there an (N, 512) float array, N the clips of clips.npy.

Usage: readme_snippets.py --readme README.md --config readme_snippets.cfg
           --files-exe readme_snippet_files --work DIR
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np

PRELUDE = """\
  // The names README.md's fragments assume (tests/package/readme_snippets.py).
  [[maybe_unused]] Tensor<float, 5> clips({1, 3, 16, 112, 112}, 0.5f);
"""


def cpp_blocks(readme):
    """(first line of code, its lines) for every ```cpp block, in order."""
    blocks, lines, start = [], None, 0
    with open(readme, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            fence = line.strip()
            if lines is None:
                if fence == "```cpp":
                    lines, start = [], number + 1
            elif fence.startswith("```"):
                blocks.append((start, lines))
                lines = None
            else:
                lines.append(line.rstrip("\n"))
    if lines is not None:
        sys.exit("%s: the ```cpp block at line %d is not closed" % (readme, start - 1))
    return blocks


def translation_unit(readme, start, lines):
    """The program of one block, with #line directives into README.md."""
    path = readme.replace("\\", "\\\\").replace('"', '\\"')
    code = "\n".join(lines)
    if re.search(r"\bint\s+main\s*\(", code):
        return '#line %d "%s"\n%s\n' % (start, path, code)
    head = ["// README.md's C++ block at line %d, as a program." % start]
    body = []
    for number, line in enumerate(lines, start):
        if line.lstrip().startswith("#include"):
            head += ['#line %d "%s"' % (number, path), line]
        else:
            body += ['#line %d "%s"' % (number, path), line]
    head += ["#include <r2plus1d/r2plus1d.hpp>", "#include <iostream>", "#include <string>",
             "#include <string_view>", "",
             "int main([[maybe_unused]] int argc, [[maybe_unused]] char** argv) {",
             "  using namespace r2plus1d;", PRELUDE]
    return "\n".join(head + body + ["}", ""])


def read_config(path):
    cfg = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            if key:
                cfg.setdefault(key, []).append(value)
    return cfg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--readme", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--files-exe", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    cfg = read_config(a.config)
    one = lambda key: cfg.get(key, [""])[0]  # noqa: E731

    blocks = cpp_blocks(a.readme)
    if not blocks:
        sys.exit("%s: no ```cpp block" % a.readme)
    shutil.rmtree(a.work, ignore_errors=True)
    run_dir = os.path.join(a.work, "run")
    os.makedirs(run_dir)

    t0 = time.monotonic()
    subprocess.run([a.files_exe, run_dir], check=True)
    ffmpeg = one("ffmpeg")
    if ffmpeg:
        subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25",
                        "-frames:v", "20", "-c:v", "ffv1", os.path.join(run_dir, "clip.mkv")], check=True)
    clips_n = np.load(os.path.join(run_dir, "clips.npy"), mmap_mode="r").shape[0]
    print("files: %.1f s" % (time.monotonic() - t0), flush=True)

    flags = ["-std=c++17", "-O1", "-Wall", "-Werror"] + [f for f in one("openmp").split() if f]
    flags += ["-I" + d for d in cfg.get("include", []) if d]
    implicit = {os.path.realpath(d) for d in cfg.get("implicit_include", []) if d}
    for d in dict.fromkeys(d for d in cfg.get("system_include", []) if d):
        if os.path.realpath(d) not in implicit:  # the compiler's own: -isystem would reorder them
            flags.append("-isystem" + d)
    failed = 0
    for i, (start, lines) in enumerate(blocks, 1):
        name = "README.md's C++ block %d (line %d)" % (i, start)
        src = os.path.join(a.work, "block%d.cpp" % i)
        exe = os.path.join(a.work, "block%d" % i)
        with open(src, "w", encoding="utf-8") as f:
            f.write(translation_unit(os.path.abspath(a.readme), start, lines))
        extra = []
        if any(re.match(r"\s*#include\s*<r2plus1d/io/video\.hpp>", line) for line in lines):
            if one("video") != "ON":
                print("skip %s: it needs FFmpeg's libraries, which were not found" % name, flush=True)
                continue
            if not ffmpeg:
                print("skip %s: it reads a video, and no ffmpeg program was found to make one" % name, flush=True)
                continue
            pc = subprocess.run([one("pkg_config"), "--cflags", "--libs", *one("ffmpeg_modules").split()],
                                capture_output=True, text=True, check=True).stdout.split()
            extra = pc
        t = time.monotonic()
        cc = subprocess.run([one("cxx"), *flags, src, "-o", exe, *extra], capture_output=True, text=True)
        if cc.returncode != 0:
            print("FAIL %s does not compile (%s):\n%s%s" % (name, src, cc.stdout, cc.stderr), flush=True)
            failed += 1
            continue
        compile_s = time.monotonic() - t
        features = os.path.join(run_dir, "features.npy")
        if os.path.exists(features):
            os.remove(features)
        t = time.monotonic()
        r = subprocess.run([exe, "clip.mkv", "r2plus1d_18.safetensors"], cwd=run_dir, capture_output=True,
                           text=True, stdin=subprocess.DEVNULL, timeout=300)
        run_s = time.monotonic() - t
        if r.returncode != 0:
            print("FAIL %s exits %d:\n%s%s" % (name, r.returncode, r.stdout, r.stderr), flush=True)
            failed += 1
            continue
        if '"features.npy"' in "\n".join(lines):
            if not os.path.exists(features):
                print("FAIL %s writes no features.npy" % name, flush=True)
                failed += 1
                continue
            y = np.load(features)
            if y.dtype != np.float32 or y.shape != (clips_n, 512):
                print("FAIL %s: features.npy is %s %s, expected float32 (%d, 512)"
                      % (name, y.dtype, y.shape, clips_n), flush=True)
                failed += 1
                continue
        print("ok   %s (compiled in %.1f s, ran in %.1f s)" % (name, compile_s, run_s), flush=True)
        out = r.stdout.splitlines()
        for line in out[:5]:
            print("     " + line, flush=True)
        if len(out) > 5:
            print("     ... (%d lines in all)" % len(out), flush=True)
    print("%d blocks, %d failed" % (len(blocks), failed))
    if failed:
        return 1
    shutil.rmtree(a.work, ignore_errors=True)  # the weights files are large; kept only on failure
    return 0


if __name__ == "__main__":
    sys.exit(main())
