#!/usr/bin/env python3
"""Writes the fuzzers' seed corpus: small valid files and edge cases.

    python3 tests/fuzz/make_corpus.py [--out tests/fuzz/corpus]

Only the standard library is used, so the bytes do not depend on numpy's
version; the files are committed and this script documents how they were made.
The video seeds (tiny clips in four containers and codecs) come from the
ffmpeg command-line tool, and are skipped where it is missing.
"""
import argparse
import json
import os
import shutil
import struct
import subprocess

# name: ffmpeg output arguments after a lavfi test pattern of the given size and frames
VIDEO_SEEDS = {
    "mjpeg.avi": ("16x16", 2, ["-c:v", "mjpeg", "-q:v", "20"]),
    "yuv420p.y4m": ("16x12", 2, ["-pix_fmt", "yuv420p"]),
    "mpeg4.mp4": ("16x16", 3, ["-c:v", "mpeg4", "-q:v", "31"]),
    "rgb24.nut": ("8x8", 2, ["-c:v", "rawvideo", "-pix_fmt", "rgb24"]),
}


def write_videos(d):
    if shutil.which("ffmpeg") is None:
        print("make_corpus: ffmpeg not found, video seeds skipped")
        return
    os.makedirs(d, exist_ok=True)
    for name, (size, frames, args) in VIDEO_SEEDS.items():
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=%s:rate=4" % size,
                        "-frames:v", str(frames), "-fflags", "+bitexact", "-flags", "+bitexact", *args,
                        os.path.join(d, name)], check=True)


def safetensors(tensors, metadata=None, raw_header=None, data=None):
    """tensors: list of (name, dtype, shape, bytes)."""
    header, blob, off = {}, b"", 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, payload in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(payload)]}
        blob += payload
        off += len(payload)
    text = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + (blob if data is None else data)


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


def npy(descr, shape, payload, version=1, fortran=False, raw_header=None):
    shp = "(" + "".join("%d, " % s for s in shape).rstrip(" ") + ")" if len(shape) != 1 else "(%d,)" % shape[0]
    h = raw_header if raw_header is not None else (
        "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, "True" if fortran else "False", shp)).encode()
    pre = 10 if version == 1 else 12
    h += b" " * (63 - (pre + len(h)) % 64) + b"\n"
    ln = struct.pack("<H", len(h)) if version == 1 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes([version, 0]) + ln + h + payload


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus"))
    out = ap.parse_args().out

    w = f32(1, 2, 3, 4)
    st = {
        "conv_valid": safetensors([("weight", "F32", [2, 2, 1, 1, 1], w), ("bias", "F32", [2], f32(0.5, -0.5))]),
        "bn_valid": safetensors([("weight", "F32", [2], f32(1, 1)), ("bias", "F32", [2], f32(0, 0)),
                                 ("running_mean", "F32", [2], f32(0, 0)), ("running_var", "F32", [2], f32(1, 1)),
                                 ("num_batches_tracked", "I64", [], struct.pack("<q", 0))]),
        "all_dtypes": safetensors([("f64", "F64", [1], struct.pack("<d", 1.5)), ("f16", "F16", [2], b"\x00\x3c\x00\x7c"),
                                   ("bf16", "BF16", [1], b"\x80\x3f"), ("i32", "I32", [1], struct.pack("<i", -7)),
                                   ("i16", "I16", [1], struct.pack("<h", 3)), ("i8", "I8", [1], b"\xff"),
                                   ("u8", "U8", [1], b"\xff"), ("b", "BOOL", [2], b"\x00\x01")],
                                  metadata={"format": "pt"}),
        "zero_size": safetensors([("empty", "F32", [0, 3], b""), ("scalar", "F32", [], f32(2))]),
        "nan_inf": safetensors([("bias", "F32", [3], f32(float("nan"), float("inf"), float("-inf")))]),
        "conv_f16": safetensors([("weight", "F16", [2, 2, 1, 1, 1], b"\x00\x3c" * 4), ("bias", "F16", [2], b"\x00\x00" * 2)]),
        "wrong_shape": safetensors([("weight", "F32", [4], w), ("bias", "F32", [2], f32(0, 0))]),
        "overlap": safetensors([], raw_header=json.dumps({
            "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}).encode(), data=f32(1, 2, 3)),
        "truncated": safetensors([("weight", "F32", [2, 2, 1, 1, 1], w)])[:-5],
        "bad_dtype": safetensors([("x", "F8", [1], b"\x00")]),
        "bad_json": struct.pack("<Q", 8) + b'{"a": [1',
        "huge_length": struct.pack("<Q", 100_000_001) + b"{}      ",
        "empty_header": safetensors([]),
        # Nested 100,000 levels deep (200 KB), and as deep as the reader allows (32 levels).
        "deep_shape": safetensors([], raw_header=b'{"a":{"dtype":"F32","shape":' + b"[" * 100_000 + b"]" * 100_000 +
                                  b',"data_offsets":[0,4]}}', data=f32(1)),
        "deep_ok": safetensors([], raw_header=b'{"a":{"dtype":"F32","shape":' + b"[" * 30 + b"1" + b"]" * 30 +
                               b',"data_offsets":[0,4]}}', data=f32(1)),
        "nul_name": safetensors([("weight", "F32", [2, 2, 1, 1, 1], w), ("bias\0", "F32", [2], f32(0, 0))]),
        "torch_zip": b"PK\x03\x04\x00\x00\x08\x00" + bytes(56),
        "torch_pickle": b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8" + bytes(52),
    }
    npy_files = {
        "f4_2x3": npy("<f4", [2, 3], f32(*range(6))),
        "f8_1d": npy("<f8", [2], struct.pack("<2d", 1.0, -2.0)),
        "f2_scalar": npy("<f2", [], b"\x00\x3c"),
        "i8_v2": npy("<i8", [1], struct.pack("<q", 42), version=2),
        "u1_v3": npy("|u1", [3], b"\x01\x02\x03", version=3),
        "b1": npy("|b1", [2], b"\x00\x01"),
        "zero_size": npy("<f4", [0, 4], b""),
        "rank5": npy("<f4", [1, 1, 1, 1, 2], f32(float("nan"), float("inf"))),
        "fortran": npy("<f4", [1], f32(1), fortran=True),
        "big_endian": npy(">f4", [1], b"\x3f\x80\x00\x00"),
        "truncated": npy("<f4", [4], f32(1, 2)),
        "bad_header": npy("<f4", [1], f32(1), raw_header=b"{'descr': '<f4', 'shape': (1,"),
        "long_py2": npy("<f4", [1], f32(1), raw_header=b"{'descr': '<f4', 'fortran_order': False, 'shape': (1L,), }"),
    }
    for target, files in (("safetensors", st), ("npy", npy_files)):
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(d, name + (".safetensors" if target == "safetensors" else ".npy")), "wb") as f:
                f.write(data)
    write_videos(os.path.join(out, "video"))


if __name__ == "__main__":
    main()
