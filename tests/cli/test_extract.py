"""End-to-end tests of r2plus1d-extract: features against torch on the same
weights and clips (plain R2Plus1DNet and R2Plus1DClassifier checkpoints), and
bad arguments and files (one-line error, non-zero exit, never a crash).
Prints 'N passed, N failed' and exits non-zero on any failure."""

import os
import subprocess
import sys

import numpy as np
import torch

from cli_harness import TOL, check, parse_args, rel_err, run, summary  # first: puts tests/reference and tools on the path
import seed_model as sm  # noqa: E402
from convert_checkpoint import save_safetensors  # noqa: E402
from gen_models import randomize_batch_norms  # noqa: E402

def main():
    a = parse_args(fresh=False)
    exe, work = a.exe, a.work
    for f in os.listdir(work):
        os.remove(os.path.join(work, f))
    p = lambda f: os.path.join(work, f)  # noqa: E731

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    net = sm.R2Plus1DNet((1, 1, 1, 1))
    randomize_batch_norms(net, gen)
    net.eval()
    save_safetensors(net.state_dict(), p("net.safetensors"))
    clf = sm.R2Plus1DClassifier(7, (1, 1, 1, 1))
    randomize_batch_norms(clf, gen)
    clf.eval()
    save_safetensors(clf.state_dict(), p("clf.safetensors"))

    x = torch.randn(2, 3, 4, 32, 40, generator=gen)
    np.save(p("x32.npy"), x.numpy())
    np.save(p("x64.npy"), x.double().numpy())
    with torch.no_grad():
        want_net = net(x).numpy()
        want_clf = clf.res2plus1d(x).numpy()

    # --- features match torch
    r = run(exe, "--layers", "1,1,1,1", "--weights", p("net.safetensors"), "--input", p("x32.npy"),
            "--output", p("y.npy"), "--threads", "2")
    check("net weights, float32 clip: exit 0", r.returncode == 0, r.stderr)
    if r.returncode == 0:
        y = np.load(p("y.npy"))
        check("output is float32 (N, 512)", y.dtype == np.float32 and y.shape == (2, 512), str((y.dtype, y.shape)))
        e = rel_err(y, want_net)
        print("parity[cli] worst relative error = %.3g" % e)
        check("features match torch within 1e-4", e <= TOL, "rel err %g" % e)
    r = run(exe, "--layers", "1,1,1,1", "--weights", p("clf.safetensors"), "--input", p("x64.npy"),
            "--output", p("y_clf.npy"))
    check("classifier weights, float64 clip: exit 0", r.returncode == 0, r.stderr)
    if r.returncode == 0:
        e = rel_err(np.load(p("y_clf.npy")), want_clf)
        check("classifier backbone features match torch", e <= TOL, "rel err %g" % e)

    # --- torchvision's family: features, class scores, top-k names
    import torchvision.models.video as tvv
    from torchvision.models._meta import _KINETICS400_CATEGORIES as K400
    tv = tvv.r2plus1d_18()
    randomize_batch_norms(tv, gen)
    tv.eval()
    save_safetensors(tv.state_dict(), p("r2p1d18.safetensors"))
    r3d = tvv.r3d_18(num_classes=10)
    randomize_batch_norms(r3d, gen)
    r3d.eval()
    save_safetensors(r3d.state_dict(), p("r3d18_10.safetensors"))
    xs = torch.randn(2, 3, 4, 32, 36, generator=gen)
    np.save(p("xs.npy"), xs.numpy())
    with torch.no_grad():
        tv_logits = tv(xs).numpy()
        tv_feats = torch.flatten(tv.avgpool(tv.layer4(tv.layer3(tv.layer2(tv.layer1(tv.stem(xs)))))), 1).numpy()
        r3d_logits = r3d(xs).numpy()
        clf_logits = clf(x).numpy()
    # with the weight cache (the default) and without it
    for flags, name, what in (((), "tv_feats.npy", ""),
                              (("--no-weight-cache",), "tv_feats_nc.npy", " without the weight cache")):
        r = run(exe, "--arch", "r2plus1d_18", "--weights", p("r2p1d18.safetensors"), "--input", p("xs.npy"),
                "--output", p(name), *flags)
        check("r2plus1d_18 features%s: exit 0" % what, r.returncode == 0, r.stderr)
        if r.returncode == 0:
            e = rel_err(np.load(p(name)), tv_feats)
            check("r2plus1d_18 features%s match torchvision" % what, e <= TOL, "rel err %g" % e)
    r = run(exe, "--arch", "r2plus1d_18", "--weights", p("r2p1d18.safetensors"), "--input", p("xs.npy"),
            "--output", p("tv_logits.npy"), "--logits", "--topk", "3")
    check("r2plus1d_18 --logits --topk: exit 0", r.returncode == 0, r.stderr)
    if r.returncode == 0:
        y = np.load(p("tv_logits.npy"))
        check("r2plus1d_18 logits are (N, 400)", y.shape == (2, 400), str(y.shape))
        e = rel_err(y, tv_logits)
        check("r2plus1d_18 logits match torchvision", e <= TOL, "rel err %g" % e)
        lines = r.stdout.splitlines()
        check("--topk 3 prints 3 lines per clip", len(lines) == 6, r.stdout)
        for n in range(2):
            want = K400[int(np.argmax(tv_logits[n]))]
            check("clip %d top1 is torchvision's argmax category" % n,
                  len(lines) == 6 and lines[3 * n].startswith("clip %d top1: %s " % (n, want)), r.stdout)
    r = run(exe, "--arch", "r3d_18", "--weights", p("r3d18_10.safetensors"), "--input", p("xs.npy"),
            "--output", p("r3d_logits.npy"), "--logits")
    check("r3d_18 with a 10-class head: exit 0", r.returncode == 0, r.stderr)
    if r.returncode == 0:
        e = rel_err(np.load(p("r3d_logits.npy")), r3d_logits)
        check("r3d_18 10-class logits match torchvision", e <= TOL, "rel err %g" % e)
    # R(2+1)D-34 as the IG-65M checkpoints define it (359 classes), read from its weights
    from gen_torchvision import r2plus1d_34  # noqa: E402
    r34 = r2plus1d_34(359)
    randomize_batch_norms(r34, gen)
    r34.eval()
    save_safetensors(r34.state_dict(), p("r2p1d34_359.safetensors"))
    with torch.no_grad():
        r34_logits = r34(xs).numpy()
    r = run(exe, "--arch", "r2plus1d_34", "--weights", p("r2p1d34_359.safetensors"), "--input", p("xs.npy"),
            "--output", p("r34_logits.npy"), "--logits")
    check("r2plus1d_34 with IG-65M's 359 classes: exit 0", r.returncode == 0, r.stderr)
    if r.returncode == 0:
        y = np.load(p("r34_logits.npy"))
        check("r2plus1d_34 logits are (N, 359)", y.shape == (2, 359), str(y.shape))
        e = rel_err(y, r34_logits)
        check("r2plus1d_34 logits match torch", e <= TOL, "rel err %g" % e)
    r = run(exe, "--arch", "r2plus1d_18", "--weights", p("r2p1d34_359.safetensors"), "--input", p("xs.npy"))
    check("r2plus1d_34 weights for r2plus1d_18: non-zero exit", r.returncode > 0,
          str(r.returncode))
    check("... and the hint names --arch r2plus1d_34", "these weights match --arch r2plus1d_34" in r.stderr, r.stderr)
    r = run(exe, "--layers", "1,1,1,1", "--weights", p("clf.safetensors"), "--input", p("x32.npy"),
            "--output", p("clf_logits.npy"), "--logits")
    check("seed classifier --logits: exit 0", r.returncode == 0, r.stderr)
    if r.returncode == 0:
        e = rel_err(np.load(p("clf_logits.npy")), clf_logits)
        check("R2Plus1DClassifier scores match torch", e <= TOL, "rel err %g" % e)

    # --- defaults
    r = run(exe, "--layers", "1,1,1,1")
    check("no --input/--weights: exit 0", r.returncode == 0, r.stderr)
    check("random weights announced on stderr", "random weights" in r.stderr, r.stderr)
    check("built-in clip announced on stderr", "built-in" in r.stderr, r.stderr)
    check("summary printed on stdout", r.stdout.startswith("clip 0: 512-d features"), r.stdout)

    r = run(exe, "--help")
    check("--help exits 0", r.returncode == 0, r.stderr)
    for opt in ("--arch", "--layers", "--weights", "--input", "--output", "--threads", "--overwrite", "--seed",
                "--logits", "--topk", "--num-classes", "r2plus1d_18", "r2plus1d_34", "r3d_18", "mc3_18"):
        check("--help explains " + opt, opt in r.stdout, r.stdout)

    # --- bad arguments and files: one line on stderr, non-zero exit, no signal
    np.save(p("rank4.npy"), np.zeros((3, 4, 8, 8), np.float32))
    np.save(p("int.npy"), np.zeros((1, 3, 4, 8, 8), np.int64))
    np.save(p("chan4.npy"), np.zeros((1, 4, 4, 8, 8), np.float32))
    with open(p("garbage.safetensors"), "wb") as f:
        f.write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    def raw_safetensors(name, header, data):
        with open(p(name), "wb") as f:
            f.write(len(header).to_bytes(8, "little") + header + data)
    raw_safetensors("huge_header.safetensors", b"{}" + b" " * 6, b"")
    with open(p("huge_header.safetensors"), "r+b") as f:
        f.write((100_000_001).to_bytes(8, "little"))
    raw_safetensors("overlap.safetensors", b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
                    b'"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', bytes(12))
    raw_safetensors("f8.safetensors", b'{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}', bytes(1))
    with open(p("net.safetensors"), "rb") as f:
        whole = f.read()
    with open(p("truncated.safetensors"), "wb") as f:
        f.write(whole[: len(whole) - 100])
    with open(p("truncated.npy"), "wb") as f:
        f.write(open(p("x32.npy"), "rb").read()[:200])
    with open(p("exists.npy"), "wb") as f:
        f.write(b"keep me")
    bad = [
        ("unknown option", ["--bogus"]),
        ("layers not integers", ["--layers", "2,2,x,2"]),
        ("three layers", ["--layers", "2,2,2"]),
        ("zero layer", ["--layers", "2,0,2,2"]),
        ("unknown arch", ["--arch", "resnet"]),
        ("threads zero", ["--threads", "0"]),
        ("threads not a number", ["--threads", "two"]),
        ("missing input", ["--input", p("nope.npy")]),
        ("input is a directory", ["--input", work]),
        ("rank-4 input", ["--input", p("rank4.npy")]),
        ("integer input", ["--input", p("int.npy")]),
        ("4-channel input", ["--input", p("chan4.npy"), "--layers", "1,1,1,1"]),
        ("truncated npy", ["--input", p("truncated.npy")]),
        ("missing weights", ["--weights", p("nope.safetensors")]),
        ("garbage weights", ["--weights", p("garbage.safetensors")]),
        ("weights header over 100 MB", ["--weights", p("huge_header.safetensors")]),
        ("weights with overlapping offsets", ["--weights", p("overlap.safetensors")]),
        ("weights of an unsupported dtype", ["--weights", p("f8.safetensors")]),
        ("truncated weights", ["--weights", p("truncated.safetensors"), "--layers", "1,1,1,1"]),
        ("weights path is a directory", ["--weights", work]),
        ("weights of another depth", ["--weights", p("net.safetensors"), "--layers", "2,2,2,2"]),
        ("existing output", ["--layers", "1,1,1,1", "--output", p("exists.npy")]),
        ("--logits with backbone-only seed weights", ["--layers", "1,1,1,1", "--weights", p("net.safetensors"),
                                                      "--logits"]),
        ("r2plus1d_18 weights for r3d_18", ["--arch", "r3d_18", "--weights", p("r2p1d18.safetensors")]),
        ("topk zero", ["--topk", "0"]),
    ]
    for name, args in bad:
        r = run(exe, *args)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        err_lines = [l for l in lines if "error" in l]
        check("bad input (%s): non-zero exit without a signal" % name, r.returncode > 0,
              "rc=%d stderr=%r" % (r.returncode, r.stderr))
        check("bad input (%s): one error line" % name, len(err_lines) == 1 and "error: " in err_lines[0],
              repr(r.stderr))
    # --- errors that say what to do instead
    torch.save(net.state_dict(), p("net.pth"))
    np.save(p("channels_last.npy"), np.zeros((1, 4, 32, 40, 3), np.float32))
    for name, args, words in [
        ("torchvision weights for the default --arch seed", ["--weights", p("r2p1d18.safetensors")],
         ["these weights match --arch r2plus1d_18, not --arch seed --layers 2,2,2,2", "missing keys (335)",
          "and 330 more"]),
        ("torchvision weights with --arch seed --logits", ["--weights", p("r2p1d18.safetensors"), "--logits"],
         ["these weights match --arch r2plus1d_18, not --arch seed --layers 2,2,2,2"]),
        ("seed weights of another depth", ["--weights", p("net.safetensors")],
         ["these weights match --arch seed --layers 1,1,1,1, not --arch seed --layers 2,2,2,2"]),
        ("r2plus1d_18 weights for r3d_18", ["--arch", "r3d_18", "--weights", p("r2p1d18.safetensors")],
         ["these weights match --arch r2plus1d_18, not --arch r3d_18"]),
        ("a .pth checkpoint as --weights", ["--weights", p("net.pth")],
         ["a PyTorch checkpoint (torch.save's zip archive), not a safetensors file", "tools/convert_checkpoint.py"]),
        ("4-channel clip", ["--input", p("chan4.npy"), "--layers", "1,1,1,1"], ["input has 4 channels, expected 3"]),
        ("channels-last clip", ["--input", p("channels_last.npy"), "--layers", "1,1,1,1"],
         ["input has 4 channels, expected 3", "channels-last", "permute(0, 4, 1, 2, 3)"]),
    ]:
        r = run(exe, *args)
        err_lines = [l for l in r.stderr.splitlines() if "error" in l]
        check("%s: exit 1 and one short error line saying %s" % (name, words), r.returncode == 1 and
              len(err_lines) == 1 and len(err_lines[0]) < 1500 and all(w in err_lines[0] for w in words),
              "rc=%d stderr=%r" % (r.returncode, r.stderr[:3000]))
    check("existing output left untouched", open(p("exists.npy"), "rb").read() == b"keep me")
    r = run(exe, "--layers", "1,1,1,1", "--output", p("exists.npy"), "--overwrite")
    check("--overwrite replaces the output", r.returncode == 0 and np.load(p("exists.npy")).shape == (1, 512),
          r.stderr)

    return summary()


if __name__ == "__main__":
    sys.exit(main())
