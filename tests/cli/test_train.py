"""End-to-end tests of r2plus1d-train on small .npy clips and a small seed
R2Plus1DClassifier (--layers 1,1,1,1) whose weights torch writes: one
optimizer step (SGD with momentum and weight decay, AdamW) and three epochs
against torch training the same head on the frozen backbone's features, two
epochs of the whole network (all of it, and with its first layers frozen),
--crop and --augment on that path, determinism, --resume, the UCF101 list format, the checkpoint in
r2plus1d-extract --logits, and bad inputs (one-line error, non-zero exit).
Prints 'N passed, N failed' and exits non-zero on any failure."""

import argparse
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn.functional as F

import cli_harness as h  # first: puts tests/reference and tools on the path
from cli_harness import TOL, check, rel_err, run, summary
import seed_model as sm  # noqa: E402
from convert_checkpoint import load_safetensors, save_safetensors  # noqa: E402
from gen_models import randomize_batch_norms  # noqa: E402

K = 5  # classes


def torch_train(clf, x, y, epochs, batch, make_opt, smoothing=0.0, make_sched=None):
    """The head of a copy of `clf` trained as r2plus1d-train's head-only path:
    features once in eval mode, then epochs over the clips in order."""
    import copy
    m = copy.deepcopy(clf)
    m.eval()
    with torch.no_grad():
        f = m.res2plus1d(x)
    opt = make_opt(m.linear.parameters())
    sched = make_sched(opt) if make_sched else None
    for _ in range(epochs):
        for b in range(0, len(y), batch):
            loss = F.cross_entropy(m.linear(f[b:b + batch]), y[b:b + batch], label_smoothing=smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if sched:
            sched.step()
    return m


def head_err(path, m):
    sd = load_safetensors(path)
    return max(rel_err(sd[k].numpy(), m.state_dict()[k].numpy()) for k in ("linear.weight", "linear.bias"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exe", required=True)
    ap.add_argument("--extract")
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    exe, work = a.exe, a.work
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    h.use_work(work)
    p = lambda f: os.path.join(work, f)  # noqa: E731

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    clf = sm.R2Plus1DClassifier(K, (1, 1, 1, 1))
    randomize_batch_norms(clf, gen)
    clf.eval()
    save_safetensors(clf.state_dict(), p("init.safetensors"))
    N = 6
    x = torch.randn(N, 3, 4, 32, 32, generator=gen)
    y = torch.tensor([0, 1, 2, 3, 4, 1], dtype=torch.int64)
    np.save(p("x.npy"), x.numpy())
    np.save(p("y.npy"), y.numpy())
    base = ["--arch", "seed", "--layers", "1,1,1,1", "--weights", p("init.safetensors"), "--train", p("x.npy"),
            "--train-labels", p("y.npy"), "--threads", "2"]

    # --- one step of SGD (momentum, weight decay) and of AdamW on all N clips
    r = run(exe, *base, "--output-dir", p("sgd1"), "--epochs", "1", "--batch", str(N), "--optimizer", "sgd",
            "--lr", "0.1", "--momentum", "0.9", "--weight-decay", "0.01")
    check("sgd one step: exit 0", r.returncode == 0, r.stderr)
    if r.returncode == 0:
        want = torch_train(clf, x, y, 1, N, lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01))
        e = head_err(p("sgd1/last.safetensors"), want)
        print("parity[sgd step] worst relative error = %.3g" % e)
        check("sgd one step matches torch within 1e-4", e <= TOL, "rel err %g" % e)
        sd = load_safetensors(p("sgd1/last.safetensors"))
        init = clf.state_dict()
        same = all(torch.equal(sd[k], init[k]) for k in init if not k.startswith("linear."))
        check("the frozen backbone is saved unchanged, with torch's keys", same and list(sd) == list(init))
        check("the step moved the head", not torch.equal(sd["linear.weight"], init["linear.weight"]))
        loads = sm.R2Plus1DClassifier(K, (1, 1, 1, 1))
        try:
            loads.load_state_dict(sd, strict=True)
            check("last.safetensors loads into torch's model with load_state_dict(strict=True)", True)
        except RuntimeError as e:
            check("last.safetensors loads into torch's model with load_state_dict(strict=True)", False, str(e)[:300])
        log = open(p("sgd1/log.csv")).read().splitlines()
        check("log.csv: header and one row at step 1",
              log[0] == "epoch,step,loss,lr,train_acc,val_acc,val_video_acc,clips_per_s" and len(log) == 2 and
              log[1].startswith("1,1,"), str(log))
    r = run(exe, *base, "--output-dir", p("adamw1"), "--epochs", "1", "--batch", str(N), "--optimizer", "adamw",
            "--lr", "0.01", "--weight-decay", "0.05")
    check("adamw one step: exit 0", r.returncode == 0, r.stderr)
    if r.returncode == 0:
        want = torch_train(clf, x, y, 1, N, lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.05))
        e = head_err(p("adamw1/last.safetensors"), want)
        print("parity[adamw step] worst relative error = %.3g" % e)
        check("adamw one step matches torch within 1e-4", e <= TOL, "rel err %g" % e)

    # --- the whole network: two epochs of SGD (batches of 3, BatchNorm on batch
    # statistics), all of it trained, then with the stem's conv and the first
    # layer frozen; every parameter and running statistic against torch's.
    # BatchNorm on so few values per channel amplifies float rounding: torch's
    # own float32 result can be far from its float64 one. So, as the float
    # check of tests/train/models_backward_test.cpp (matches_float): where
    # torch's float is within TOL of its double, ours must be within TOL of
    # torch's float; where it is not, ours must be no farther from torch's
    # double than FLOAT_VERSUS_TORCH times torch's float.
    FLOAT_VERSUS_TORCH = 1.5

    def torch_full(frozen, epochs, batch, dtype, xin=x):
        import copy
        m = copy.deepcopy(clf).to(dtype)
        m.train()
        for name, prm in m.named_parameters():
            prm.requires_grad_(not any(name.startswith(f) for f in frozen))
        opt = torch.optim.SGD([q for q in m.parameters() if q.requires_grad], lr=0.05, momentum=0.9,
                              weight_decay=1e-3)
        xd = xin.to(dtype)
        for _ in range(epochs):
            for b in range(0, len(y), batch):
                loss = F.cross_entropy(m(xd[b:b + batch]), y[b:b + batch])
                opt.zero_grad()
                loss.backward()
                opt.step()
        return m.state_dict()

    def worst(got, want):
        return max(rel_err(got[k].double().numpy(), want[k].double().numpy()) for k in want
                   if want[k].dtype.is_floating_point)

    steps = 2 * ((len(y) + 2) // 3)
    full_args = ["--epochs", "2", "--batch", "3", "--no-shuffle", "--lr", "0.05", "--momentum", "0.9",
                 "--weight-decay", "1e-3"]
    centre = x[..., 4:28, 4:28]  # torchvision's CenterCrop(24) of 32x32 frames
    for what, frozen, extra, xin in (
            ("none", [], [], x),
            ("res2plus1d.conv1 res2plus1d.conv2", ["res2plus1d.conv1", "res2plus1d.conv2"], [], x),
            ("none --crop 24", [], ["--crop", "24"], centre)):
        out = p("full_%d_%d" % (len(frozen), len(extra)))
        r = run(exe, *base, "--output-dir", out, *full_args, *extra, "--freeze", *(frozen or ["none"]))
        check("--freeze %s: exit 0" % what, r.returncode == 0, r.stderr)
        if r.returncode == 0:
            want32 = torch_full(frozen, 2, 3, torch.float32, xin)
            want64 = torch_full(frozen, 2, 3, torch.float64, xin)
            sd = load_safetensors(os.path.join(out, "last.safetensors"))
            e_torch = worst(want32, want64)
            e_ours = worst(sd, want64)
            e_vs32 = worst(sd, want32)
            print("parity[train --freeze %s, 2 epochs] ours vs torch f64 = %.3g, torch f32 vs f64 = %.3g, "
                  "ours vs torch f32 = %.3g" % (what, e_ours, e_torch, e_vs32))
            if e_torch <= TOL:
                check("--freeze %s: every parameter and running statistic within 1e-4 of torch's float" % what,
                      e_vs32 <= TOL, "rel err %g" % e_vs32)
            else:
                check("--freeze %s: every parameter and running statistic as close to torch's double as torch's "
                      "float, within %g times" % (what, FLOAT_VERSUS_TORCH), e_ours <= FLOAT_VERSUS_TORCH * e_torch,
                      "ours %g, torch's float %g" % (e_ours, e_torch))
            init = clf.state_dict()
            kept = all(torch.equal(sd[k], init[k]) for k in init
                       if any(k.startswith(f) for f in frozen) and init[k].dtype.is_floating_point
                       and "running" not in k)
            check("--freeze %s: the frozen parameters are unchanged" % what, kept)
            loads = sm.R2Plus1DClassifier(K, (1, 1, 1, 1))
            try:
                loads.load_state_dict(sd, strict=True)
                ok, err = True, ""
            except RuntimeError as e:
                ok, err = False, str(e)[:300]
            check("--freeze %s: last.safetensors loads into torch's model with load_state_dict(strict=True)" % what,
                  ok, err)
            counts = [k for k in want64 if k.endswith("num_batches_tracked")]
            check("--freeze %s: every num_batches_tracked counts the %d steps, as torch's" % (what, steps),
                  counts and all(int(sd[k]) == int(want64[k]) == int(init[k]) + steps for k in counts),
                  str([(k, int(sd[k]), int(want64[k]), int(init[k])) for k in counts]))

    # --- --augment on the whole network's path. Clips constant over each frame
    # look the same under every crop and flip, so augmented training equals
    # the centre crop's bit for bit: the batches hold the right clips in the
    # right order. On varied clips: the same command gives the same bytes, the
    # seed changes only the draws, and --resume draws what one run would.
    flat = x[..., :1, :1].expand(-1, -1, -1, 32, 32).contiguous()
    np.save(p("flat.npy"), flat.numpy())
    flat_base = [v if v != p("x.npy") else p("flat.npy") for v in base]
    aug = ["--freeze", "none", "--crop", "24"] + full_args
    r1 = run(exe, *flat_base, *aug, "--output-dir", p("aug_flat_none"))
    r2 = run(exe, *flat_base, *aug, "--augment", "crop+flip", "--output-dir", p("aug_flat"))
    check("--augment crop+flip on clips constant over each frame: exit 0", r1.returncode == 0 and r2.returncode == 0,
          r1.stderr + r2.stderr)
    if r1.returncode == 0 and r2.returncode == 0:
        check("... the weights of --augment none, bit for bit",
              open(p("aug_flat_none/last.safetensors"), "rb").read() ==
              open(p("aug_flat/last.safetensors"), "rb").read())
    runs = {}
    for name, extra in (("a7", ["--augment", "crop+flip", "--seed", "7"]), ("b7", ["--augment", "crop+flip", "--seed", "7"]),
                        ("a8", ["--augment", "crop+flip", "--seed", "8"]), ("c7", ["--augment", "crop", "--seed", "7"]),
                        ("n7", ["--seed", "7"]), ("n8", ["--seed", "8"])):
        r = run(exe, *base, *aug, *extra, "--output-dir", p("aug_" + name))
        runs[name] = open(p("aug_%s/last.safetensors" % name), "rb").read() if r.returncode == 0 else r.stderr
    check("--augment: same command, identical last.safetensors", isinstance(runs["a7"], bytes) and
          runs["a7"] == runs["b7"], str(runs["a7"])[:300])
    check("--augment: another seed draws other crops", runs["a7"] != runs["a8"])
    check("--augment crop differs from crop+flip and from none", len({runs["a7"], runs["c7"], runs["n7"]}) == 3)
    check("--augment none: the seed does not matter when the weights are given", runs["n7"] == runs["n8"])
    r = run(exe, *base, *aug, "--augment", "crop+flip", "--seed", "7", "--checkpointing", "--output-dir", p("aug_ck7"))
    check("--checkpointing: the bytes of the same run without it",
          r.returncode == 0 and open(p("aug_ck7/last.safetensors"), "rb").read() == runs["a7"], r.stderr)
    res_aug = base + aug[:-len(full_args)] + ["--batch", "3", "--no-shuffle", "--augment", "crop+flip", "--seed", "5"]
    r = run(exe, *res_aug, "--epochs", "3", "--output-dir", p("aug_full"))
    r1 = run(exe, *res_aug, "--epochs", "1", "--output-dir", p("aug_part"))
    r2 = run(exe, *res_aug, "--epochs", "3", "--output-dir", p("aug_part"), "--resume")
    check("--augment --resume after 1 of 3 epochs: identical last.safetensors",
          r.returncode == 0 and r1.returncode == 0 and r2.returncode == 0 and
          open(p("aug_full/last.safetensors"), "rb").read() == open(p("aug_part/last.safetensors"), "rb").read(),
          r.stderr + r1.stderr + r2.stderr)

    r = run(exe, *base, "--output-dir", p("full_bad"), "--freeze", "layer9")
    check("--freeze of a prefix naming no parameter: one error line", r.returncode != 0 and
          r.stderr.strip().count("\n") == 0 and "layer9" in r.stderr, r.stderr)

    # --- three epochs, batches of 4 (the last one short), label smoothing, StepLR
    r = run(exe, *base, "--output-dir", p("e3"), "--epochs", "3", "--batch", "4", "--no-shuffle", "--lr", "0.05",
            "--momentum", "0.9", "--label-smoothing", "0.1", "--schedule", "step", "--lr-step", "2", "--lr-gamma", "0.5")
    check("3 epochs: exit 0", r.returncode == 0, r.stderr)
    if r.returncode == 0:
        want = torch_train(clf, x, y, 3, 4, lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9), 0.1,
                           lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5))
        e = head_err(p("e3/last.safetensors"), want)
        print("parity[3 epochs] worst relative error = %.3g" % e)
        check("3 epochs match torch within 1e-4", e <= TOL, "rel err %g" % e)
        rows = open(p("e3/log.csv")).read().splitlines()[1:]
        check("log.csv: 3 rows, 2 steps each, lr 0.05 0.05 0.025",
              [r_.split(",")[:2] for r_ in rows] == [["1", "2"], ["2", "4"], ["3", "6"]] and
              [float(r_.split(",")[3]) for r_ in rows] == [0.05, 0.05, 0.025], str(rows))
        if a.extract:
            r = run(a.extract, "--arch", "seed", "--layers", "1,1,1,1", "--weights", p("e3/last.safetensors"),
                    "--input", p("x.npy"), "--logits", "--output", p("logits.npy"))
            check("the checkpoint loads in r2plus1d-extract --logits", r.returncode == 0, r.stderr)
            if r.returncode == 0:
                with torch.no_grad():
                    e = rel_err(np.load(p("logits.npy")), want(x).numpy())
                check("its logits match torch's trained model within 1e-4", e <= TOL, "rel err %g" % e)

    # --- weights with another head: the rest loads, the head is new
    np.save(p("y3.npy"), (y % 3).numpy())
    r = run(exe, *base[:-4], "--train-labels", p("y3.npy"), "--num-classes", "3", "--epochs", "1", "--output-dir",
            p("ft"), "--no-shuffle")
    check("--num-classes 3 on 5-class weights: exit 0", r.returncode == 0 and "5-class head" in r.stderr, r.stderr)
    if r.returncode == 0:
        sd = load_safetensors(p("ft/last.safetensors"))
        init = clf.state_dict()
        check("... the backbone loaded, a 3-class head",
              all(torch.equal(sd[k], init[k]) for k in init if not k.startswith("linear.")) and
              tuple(sd["linear.weight"].shape) == (3, 512))

    # --- determinism: the same shuffled command twice gives the same bytes
    det = base + ["--epochs", "3", "--batch", "2", "--optimizer", "adamw", "--lr", "0.01"]
    r1 = run(exe, *det, "--seed", "7", "--output-dir", p("d1"))
    r2 = run(exe, *det, "--seed", "7", "--output-dir", p("d2"))
    check("two shuffled runs: exit 0", r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr)
    if r1.returncode == 0 and r2.returncode == 0:
        b1, b2 = (open(p(d + "/last.safetensors"), "rb").read() for d in ("d1", "d2"))
        check("same command, same seed: identical last.safetensors", b1 == b2)
        r3 = run(exe, *det, "--seed", "8", "--output-dir", p("d3"))
        check("another seed shuffles otherwise",
              r3.returncode == 0 and open(p("d3/last.safetensors"), "rb").read() != b1, r3.stderr)

        r4 = run(exe, *[v if v != "2" or det[i - 1] != "--threads" else "1" for i, v in enumerate(det)], "--seed", "7",
                 "--output-dir", p("d4"))
        check("--threads 1 gives the bytes of --threads 2",
              r4.returncode == 0 and open(p("d4/last.safetensors"), "rb").read() == b1, r4.stderr)

    # --- resume: 2 epochs, then on to 4, equals 4 at once
    res = base + ["--batch", "2", "--seed", "3", "--optimizer", "adamw", "--lr", "0.01", "--schedule", "step",
                  "--lr-step", "1", "--lr-gamma", "0.7"]
    r = run(exe, *res, "--epochs", "4", "--output-dir", p("full"))
    r1 = run(exe, *res, "--epochs", "2", "--output-dir", p("part"))
    r2 = run(exe, *res, "--epochs", "4", "--output-dir", p("part"), "--resume")
    check("resume runs: exit 0", r.returncode == 0 and r1.returncode == 0 and r2.returncode == 0,
          r.stderr + r1.stderr + r2.stderr)
    if r2.returncode == 0:
        check("--resume after 2 of 4 epochs: identical last.safetensors",
              open(p("full/last.safetensors"), "rb").read() == open(p("part/last.safetensors"), "rb").read())
        check("--resume: identical optimizer state",
              open(p("full/optimizer.safetensors"), "rb").read() == open(p("part/optimizer.safetensors"), "rb").read())
        lf = [l.split(",")[:5] for l in open(p("full/log.csv")).read().splitlines()]
        lp = [l.split(",")[:5] for l in open(p("part/log.csv")).read().splitlines()]
        check("--resume: log.csv continues with the same rows", lf == lp and len(lp) == 5, str(lp))
    r = run(exe, *res, "--epochs", "4", "--output-dir", p("part"))
    check("an existing --output-dir needs --resume or --overwrite",
          r.returncode != 0 and "--resume" in r.stderr and "--overwrite" in r.stderr, r.stderr)
    r = run(exe, *res[:-2], "--lr-gamma", "0.5", "--epochs", "5", "--output-dir", p("part"), "--resume")
    check("--resume with other settings is refused", r.returncode != 0 and "lr-gamma" in r.stderr, r.stderr)
    import fcntl
    with open(p("part/.lock"), "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        r = run(exe, *res, "--epochs", "5", "--output-dir", p("part"), "--resume")
        check("a directory another run holds is refused", r.returncode != 0 and "in use" in r.stderr, r.stderr)
    with open(p("part/optimizer.safetensors"), "r+b") as f:
        f.seek(-4, 2)
        f.write(b"\0\1\2\3")
    r = run(exe, *res, "--epochs", "5", "--output-dir", p("part"), "--resume")
    check("--resume refuses a checkpoint file its epoch did not write",
          r.returncode != 0 and "optimizer.safetensors" in r.stderr and r.stderr.count("\n") == 1, r.stderr)

    # --- UCF101's list format: 1-based labels, classInd.txt beside the list, paths relative to it
    ucf = p("ucf")
    os.makedirs(os.path.join(ucf, "clips", "Left"))
    os.makedirs(os.path.join(ucf, "clips", "Right"))
    with open(os.path.join(ucf, "classInd.txt"), "w") as f:
        f.write("1 Left\n2 Right\n")
    lines = []
    for i in range(4):
        cls = "Left" if i % 2 == 0 else "Right"
        rel = "clips/%s/v_%s_g01_c%02d.npy" % (cls, cls, i)
        np.save(os.path.join(ucf, rel), x[i].numpy())
        lines.append("%s %d" % (rel, 1 + i % 2))
    with open(os.path.join(ucf, "trainlist01.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    ucf_args = ["--arch", "seed", "--layers", "1,1,1,1", "--threads", "2", "--epochs", "2", "--batch", "2"]
    r = run(exe, *ucf_args, "--train", os.path.join(ucf, "trainlist01.txt"), "--val",
            os.path.join(ucf, "trainlist01.txt"), "--output-dir", p("ucf_out"))
    check("UCF101 list with classInd.txt: exit 0", r.returncode == 0, r.stderr)
    if r.returncode == 0:
        check("classes.txt from classInd.txt", open(p("ucf_out/classes.txt")).read() == "Left\nRight\n")
        sd = load_safetensors(p("ucf_out/last.safetensors"))
        check("2 classes from classInd.txt", tuple(sd["linear.weight"].shape) == (2, 512))
        check("--val writes best.safetensors", os.path.exists(p("ucf_out/best.safetensors")))
        row = open(p("ucf_out/log.csv")).read().splitlines()[1].split(",")
        check("log.csv has val_acc and val_video_acc", row[5] != "" and row[6] != "", str(row))
    with open(os.path.join(ucf, "testlist01.txt"), "w") as f:  # UCF101's test lists have no labels
        f.write("\n".join(l.split()[0][len("clips/"):] for l in lines) + "\n")
    shutil.copy(os.path.join(ucf, "classInd.txt"), os.path.join(ucf, "clips", "classInd.txt"))
    shutil.copy(os.path.join(ucf, "testlist01.txt"), os.path.join(ucf, "clips", "testlist01.txt"))
    r = run(exe, *ucf_args, "--train", os.path.join(ucf, "trainlist01.txt"), "--val",
            os.path.join(ucf, "clips", "testlist01.txt"), "--output-dir", p("ucf_test"))
    check("UCF101's unlabelled testlist01.txt: classes from the folders",
          r.returncode == 0 and [l.split(",")[:7] for l in open(p("ucf_test/log.csv"))] ==
          [l.split(",")[:7] for l in open(p("ucf_out/log.csv"))], r.stderr)
    os.remove(os.path.join(ucf, "clips", "testlist01.txt"))
    os.remove(os.path.join(ucf, "clips", "classInd.txt"))
    r = run(exe, *ucf_args, "--train", os.path.join(ucf, "clips"), "--output-dir", p("folders"))
    check("class folders: exit 0",
          r.returncode == 0 and open(p("folders/classes.txt")).read() == "Left\nRight\n", r.stderr)

    # --- scripts/make_motion_dataset.py: its lists train as they are
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "make_motion_dataset.py")
    import subprocess
    g = subprocess.run([sys.executable, script, p("motion"), "--videos", "8", "--size", "32", "--frames", "8"],
                       capture_output=True, text=True)
    check("make_motion_dataset.py: exit 0", g.returncode == 0, g.stderr)
    if g.returncode == 0:
        mx = np.load(p("motion/Up/v_Up_g01_c01.npy"))
        check("motion clips are (3, T, H, W) float32", mx.shape == (3, 8, 32, 32) and mx.dtype == np.float32,
              str(mx.shape))
        r = run(exe, *ucf_args, "--train", p("motion/trainlist01.txt"), "--val", p("motion/testlist01.txt"),
                "--output-dir", p("motion_out"))
        check("the motion dataset trains, 4 classes", r.returncode == 0 and open(
            p("motion_out/classes.txt")).read() == "Left\nRight\nUp\nDown\n", r.stderr)

    # --- bad inputs: one error line, non-zero exit
    def bad(name, args, needle):
        r = run(exe, *args)
        check(name, r.returncode != 0 and needle in r.stderr and r.stderr.strip().count("\n") == 0 and
              "error" in r.stderr, r.stderr)

    with open(os.path.join(ucf, "bad_label.txt"), "w") as f:
        f.write(lines[0].split()[0] + " 3\n")
    bad("label outside classInd.txt", ucf_args + ["--train", os.path.join(ucf, "bad_label.txt"), "--output-dir",
                                                  p("b1")], "label 3 is not one of the 2 classes")
    with open(os.path.join(ucf, "unknown.txt"), "w") as f:
        f.write(lines[0].split()[0] + " Left\n")
    bad("unknown label", ucf_args + ["--train", os.path.join(ucf, "unknown.txt"), "--output-dir", p("b2")],
        "unknown label 'Left'")
    with open(os.path.join(ucf, "empty.txt"), "w") as f:
        f.write("# nothing\n")
    bad("empty list", ucf_args + ["--train", os.path.join(ucf, "empty.txt"), "--output-dir", p("b3")], "names no videos")
    np.save(p("y5.npy"), y[:5].numpy())
    bad("labels count != clips", base[:-4] + ["--train-labels", p("y5.npy"), "--threads", "2", "--output-dir",
                                              p("b4")], "5 labels for 6 clips")
    bad("label out of range of --num-classes", base + ["--num-classes", "4", "--output-dir", p("b5")],
        "out of range for 4 classes")
    bad("no labels for .npy clips", ["--train", p("x.npy"), "--output-dir", p("b6")], "--train-labels")
    bad("--augment with the head-only path", base + ["--augment", "crop", "--crop", "24", "--output-dir", p("b10")],
        "--freeze none")
    bad("--checkpointing with the head-only path", base + ["--checkpointing", "--output-dir", p("b14")],
        "leave --checkpointing out")
    bad("--augment on .npy clips without --crop", base + ["--augment", "crop", "--freeze", "none", "--output-dir",
                                                          p("b11")], "give --crop S")
    bad("--crop larger than the clips", base + ["--crop", "40", "--freeze", "none", "--output-dir", p("b12")],
        "larger than the 32x32 clips")
    bad("--resize of one number", base + ["--resize", "128", "--output-dir", p("b13")], "--resize: expected 2")
    xn = x.clone()
    xn[2] = float("nan")
    nan_args = ["--arch", "seed", "--layers", "1,1,1,1", "--train", p("xn.npy"), "--train-labels", p("y.npy"),
                "--batch", "2", "--no-shuffle", "-q", "--output-dir", p("b8")]
    np.save(p("xn.npy"), xn.numpy())
    bad("NaN loss stops with the epoch and step", nan_args + ["--epochs", "1"], "at epoch 1 step 2")
    check("NaN loss in the first epoch writes no checkpoint", not os.path.exists(p("b8/last.safetensors")))
    shutil.rmtree(p("b8"))
    np.save(p("xn.npy"), x.numpy())
    r = run(exe, *nan_args, "--epochs", "1")
    kept = open(p("b8/last.safetensors"), "rb").read() if r.returncode == 0 else b""
    np.save(p("xn.npy"), xn.numpy())
    bad("NaN loss in epoch 2 names the step", nan_args + ["--epochs", "2", "--resume"], "at epoch 2 step 5")
    check("NaN loss keeps the last good checkpoint, which resumes",
          kept != b"" and open(p("b8/last.safetensors"), "rb").read() == kept and
          "epoch 1\n" in open(p("b8/train_state.txt")).read())
    with open(os.path.join(ucf, "missing.txt"), "w") as f:
        f.write("\n".join(lines[:2] + ["clips/Left/none.npy 1"]) + "\n")
    r = run(exe, *ucf_args, "--train", os.path.join(ucf, "missing.txt"), "--output-dir", p("b9"))
    check("a missing entry is skipped with a warning", r.returncode == 0 and "warning: skipping" in r.stderr and
          "none.npy" in r.stderr and "1 skipped" in r.stderr, r.stderr)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
