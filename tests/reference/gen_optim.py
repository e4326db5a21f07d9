"""Writes PyTorch references for the training building blocks
(`optim.safetensors`): torch.optim.SGD and AdamW, the StepLR and
CosineAnnealingLR learning rates, clip_grad_norm_ and cross_entropy.

Optimizer cases (metadata "optimizers", a JSON list of name, kind, options,
steps and the (step, parameter) pairs without a gradient) run on an
nn.Linear(4, 3) whose weight and bias are stored as `<case>.init.<param>`; the
gradient of each step is `<case>.grad.<step>.<param>`, the parameters after
each step `<case>.after_f32.<step>.<param>` (torch in float32) and
`<case>.after_f64.<step>.<param>` (the same values in float64).
Schedulers (metadata "schedulers"): `<case>.lrs`, float64, the lr after
construction and after each of the 20 epochs.
clip_grad_norm_ (metadata "clips"): `<case>.grad.<param>` before,
`<case>.clipped_f32.<param>` / `_f64` after, `<case>.total_f32` / `_f64`.
cross_entropy (metadata "losses"): `<case>.logits`, `<case>.targets` (int64),
`<case>.loss_f32` / `_f64` and `<case>.grad_f32` / `_f64`.
Every value is drawn in float32, so the float64 runs see the same values."""

import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))

from convert_checkpoint import save_safetensors  # noqa: E402

SEED = 20240917
PARAMS = ["weight", "bias"]
STEPS = 6

OPTIMIZERS = [
    ("sgd_plain", "SGD", {"lr": 0.1}, []),
    ("sgd_momentum", "SGD", {"lr": 0.05, "momentum": 0.9}, [[2, "bias"]]),
    ("sgd_dampening", "SGD", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3}, []),
    ("sgd_nesterov_decay", "SGD", {"lr": 0.03, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}, []),
    ("sgd_weight_decay", "SGD", {"lr": 0.1, "weight_decay": 0.05}, []),
    ("adamw", "AdamW", {"lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01}, [[3, "weight"]]),
    ("adamw_amsgrad", "AdamW",
     {"lr": 0.005, "betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.1, "amsgrad": True}, []),
]

SCHEDULERS = [
    ("step_lr", "StepLR", {"step_size": 3, "gamma": 0.5}, 0.1),
    ("cosine_6", "CosineAnnealingLR", {"T_max": 6, "eta_min": 0.001}, 0.1),
    ("cosine_20", "CosineAnnealingLR", {"T_max": 20, "eta_min": 0.0}, 0.05),
]

CLIPS = [
    ("clip_l2", 1.0, 2.0),
    ("clip_l2_loose", 100.0, 2.0),
    ("clip_inf", 0.5, "inf"),
    ("clip_l1", 2.0, 1.0),
]

LOSSES = [
    ("ce", 0.0, 0.0),
    ("ce_smooth", 0.1, 0.0),
    ("ce_large", 0.0, 1000.0),
    ("ce_large_smooth", 0.25, 1000.0),
]


def make_optimizer(kind, params, options):
    o = dict(options)
    if kind == "SGD":
        return torch.optim.SGD(params, **o)
    o["betas"] = tuple(o["betas"])
    return torch.optim.AdamW(params, **o)


def run_optimizer(put, name, kind, options, none_at, gen):
    init = {p: torch.randn(s, generator=gen) for p, s in (("weight", (3, 4)), ("bias", (3,)))}
    grads = [{p: torch.randn(init[p].shape, generator=gen) for p in PARAMS} for _ in range(STEPS)]
    for p in PARAMS:
        put("%s.init.%s" % (name, p), init[p])
    for step in range(STEPS):
        for p in PARAMS:
            put("%s.grad.%d.%s" % (name, step, p), grads[step][p])
    for dtype, suffix in ((torch.float32, "f32"), (torch.float64, "f64")):
        m = torch.nn.Linear(4, 3).to(dtype)
        with torch.no_grad():
            for p in PARAMS:
                getattr(m, p).copy_(init[p])
        opt = make_optimizer(kind, m.parameters(), options)
        for step in range(STEPS):
            for p in PARAMS:
                none = [step, p] in none_at
                getattr(m, p).grad = None if none else grads[step][p].to(dtype).clone()
            opt.step()
            for p in PARAMS:
                put("%s.after_%s.%d.%s" % (name, suffix, step, p), getattr(m, p))


def run_scheduler(put, name, kind, options, lr):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sched = getattr(torch.optim.lr_scheduler, kind)(opt, **options)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(20):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    put("%s.lrs" % name, torch.tensor(lrs, dtype=torch.float64))


def run_clip(put, name, max_norm, norm_type, gen):
    grads = {p: torch.randn(s, generator=gen) * 0.7 for p, s in (("weight", (3, 4)), ("bias", (3,)))}
    for p in PARAMS:
        put("%s.grad.%s" % (name, p), grads[p])
    nt = float("inf") if norm_type == "inf" else norm_type
    for dtype, suffix in ((torch.float32, "f32"), (torch.float64, "f64")):
        ps = []
        for p in PARAMS:
            t = torch.nn.Parameter(torch.zeros(grads[p].shape, dtype=dtype))
            t.grad = grads[p].to(dtype).clone()
            ps.append(t)
        total = torch.nn.utils.clip_grad_norm_(ps, max_norm, norm_type=nt)
        put("%s.total_%s" % (name, suffix), total.reshape(1))
        for p, t in zip(PARAMS, ps):
            put("%s.clipped_%s.%s" % (name, suffix, p), t.grad)


def run_loss(put, name, smoothing, offset, gen):
    logits = torch.randn(6, 5, generator=gen) * 3.0
    logits[1] += offset
    logits[4, 2] += offset
    targets = torch.tensor([0, 4, 2, 2, 1, 3], dtype=torch.int64)
    put("%s.logits" % name, logits)
    put("%s.targets" % name, targets)
    for dtype, suffix in ((torch.float32, "f32"), (torch.float64, "f64")):
        x = logits.to(dtype).clone().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(x, targets, label_smoothing=smoothing)
        loss.backward()
        put("%s.loss_%s" % (name, suffix), loss.detach().reshape(1))
        put("%s.grad_%s" % (name, suffix), x.grad)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    tensors = {}

    def put(key, t):
        assert key not in tensors, key
        tensors[key] = t.detach().clone().contiguous()

    for name, kind, options, none_at in OPTIMIZERS:
        run_optimizer(put, name, kind, options, none_at, gen)
    for name, kind, options, lr in SCHEDULERS:
        run_scheduler(put, name, kind, options, lr)
    for name, max_norm, norm_type in CLIPS:
        run_clip(put, name, max_norm, norm_type, gen)
    for name, smoothing, offset in LOSSES:
        run_loss(put, name, smoothing, offset, gen)
    meta = {
        "torch": torch.__version__,
        "steps": str(STEPS),
        "optimizers": json.dumps([{"name": n, "kind": k, "options": o, "none_at": z} for n, k, o, z in OPTIMIZERS]),
        "schedulers": json.dumps([{"name": n, "kind": k, "options": o, "lr": lr} for n, k, o, lr in SCHEDULERS]),
        "clips": json.dumps([{"name": n, "max_norm": m, "norm_type": t} for n, m, t in CLIPS]),
        "losses": json.dumps([{"name": n, "label_smoothing": s, "offset": o} for n, s, o in LOSSES]),
    }
    save_safetensors(tensors, os.path.join(args.out, "optim.safetensors"), metadata=meta)


if __name__ == "__main__":
    main()
