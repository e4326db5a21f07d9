"""Writes PyTorch autograd references for training whole modules: the seed's
SpatioTemporalConv, SpatioTemporalResBlock, SpatioTemporalResLayer,
R2Plus1DNet and R2Plus1DClassifier, and torchvision's r2plus1d_18, r3d_18 and
mc3_18. For each case a file grads_<case>.safetensors with the state
(`state.<key>`), the input, and what the loss needs: `loss_weights` (loss =
sum(output * loss_weights)) or `targets` (loss = cross_entropy(output,
targets)). Then per torch dtype (f32, f64), after one backward in the case's
mode: the output, every parameter's gradient (`grad_<dtype>.<name>`; frozen
parameters have none), the input's gradient (modules with a 5-D output) and,
in training mode, the buffers afterwards (`after_<dtype>.<key>`). A case with
`steps` runs that many SGD steps (momentum 0.9, weight decay 1e-4) on the same
clip and keeps the parameters after them (`param_<dtype>.<name>`) instead."""

import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))

from convert_checkpoint import save_safetensors  # noqa: E402
import gen_models  # noqa: E402
import gen_torchvision  # noqa: E402

SEED = {"SpatioTemporalConv", "SpatioTemporalResBlock", "SpatioTemporalResLayer", "R2Plus1DNet", "R2Plus1DClassifier"}
SGD_LR, SGD_MOMENTUM, SGD_WEIGHT_DECAY = 0.01, 0.9, 1e-4

CLIP = [2, 3, 4, 32, 40]
NET = {"args": [[1, 1, 1, 1]]}
CLS = {"args": [5, [1, 1, 1, 1]]}
TV = {"args": [5]}

# name, module, constructor args, input shape, mode, frozen prefixes, loss, SGD steps
CASES = [
    ("stconv_k3_train", "SpatioTemporalConv", {"args": [4, 6, 3], "kwargs": {"padding": 1}}, [2, 4, 3, 6, 5],
     "train", [], "weighted", 0),
    ("stconv_first_eval", "SpatioTemporalConv",
     {"args": [3, 8, [1, 7, 7]], "kwargs": {"stride": [1, 2, 2], "padding": [0, 3, 3], "first_conv": True}},
     [2, 3, 3, 12, 10], "eval", [], "weighted", 0),
    # Eval mode: a conv bias before a BatchNorm with batch statistics has a
    # zero gradient, which torch gives as rounding noise.
    ("stconv_bias_eval", "SpatioTemporalConv",
     {"args": [4, 6, [3, 3, 3]], "kwargs": {"stride": [2, 1, 2], "padding": [1, 1, 0], "bias": True}},
     [2, 4, 5, 6, 7], "eval", [], "weighted", 0),
    ("block_identity_train", "SpatioTemporalResBlock", {"args": [6, 6, 3]}, [2, 6, 3, 6, 5], "train", [],
     "weighted", 0),
    # Frames of 28x32 and 16x20: the float forward runs F(4x4, 3x3) and
    # F(2x2, 3x3) spatially and F(4, 3) along time (the banded path).
    ("block_winograd_f4_train", "SpatioTemporalResBlock", {"args": [8, 8, 3]}, [2, 8, 5, 28, 32], "train", [],
     "weighted", 0),
    ("block_winograd_f2_train", "SpatioTemporalResBlock", {"args": [8, 8, 3]}, [2, 8, 5, 16, 20], "train", [],
     "weighted", 0),
    ("block_downsample_train", "SpatioTemporalResBlock", {"args": [4, 8, 3, True]}, [2, 4, 4, 6, 6], "train", [],
     "weighted", 0),
    ("block_downsample_eval", "SpatioTemporalResBlock", {"args": [4, 8, 3, True]}, [2, 4, 4, 6, 6], "eval", [],
     "weighted", 0),
    ("layer_train", "SpatioTemporalResLayer", {"args": [4, 8, 3, 2], "kwargs": {"downsample": True}},
     [2, 4, 4, 6, 6], "train", [], "weighted", 0),
    ("net_train", "R2Plus1DNet", NET, CLIP, "train", [], "weighted", 0),
    ("classifier_train", "R2Plus1DClassifier", CLS, CLIP, "train", [], "cross_entropy", 0),
    ("classifier_eval", "R2Plus1DClassifier", CLS, CLIP, "eval", [], "weighted", 0),
    ("classifier_frozen_train", "R2Plus1DClassifier", CLS, CLIP, "train",
     ["res2plus1d.conv1", "res2plus1d.conv2"], "cross_entropy", 0),
    ("r2plus1d_18_train", "r2plus1d_18", TV, CLIP, "train", [], "cross_entropy", 0),
    ("r2plus1d_18_eval", "r2plus1d_18", TV, CLIP, "eval", [], "weighted", 0),
    ("r2plus1d_18_frozen_train", "r2plus1d_18", TV, CLIP, "train", ["stem", "layer1"], "cross_entropy", 0),
    ("r3d_18_train", "r3d_18", TV, CLIP, "train", [], "cross_entropy", 0),
    ("mc3_18_train", "mc3_18", TV, CLIP, "train", [], "weighted", 0),
    ("r2plus1d_18_sgd", "r2plus1d_18", TV, CLIP, "train", [], "cross_entropy", 3),
]


def build(kind, ctor):
    if kind in SEED:
        return gen_models.build(kind, ctor)
    return gen_torchvision.build(kind, ctor)


def run_case(out_dir, name, kind, ctor, shape, mode, frozen, loss, steps, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build(kind, ctor)
    gen_models.randomize_batch_norms(model, gen)
    x = torch.randn(*shape, generator=gen)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    tensors = {"state." + k: v for k, v in state.items()}
    tensors["input"] = x
    with torch.no_grad():
        out_shape = model.eval()(x[:1]).shape
    out_shape = (shape[0],) + tuple(out_shape[1:])
    if loss == "weighted":
        weights = torch.randn(*out_shape, generator=gen)
        tensors["loss_weights"] = weights
    else:
        targets = torch.randint(0, out_shape[1], (shape[0],), generator=gen)
        tensors["targets"] = targets
    for suffix, dtype in (("f32", torch.float32), ("f64", torch.float64)):
        m = build(kind, ctor)
        m.load_state_dict(state)
        m = m.to(dtype)
        m.train(mode == "train")
        for n, p in m.named_parameters():
            if any(n == f or n.startswith(f + ".") for f in frozen):
                p.requires_grad_(False)
        xi = x.to(dtype).detach().clone().requires_grad_(len(out_shape) == 5)
        opt = None
        if steps:
            opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=SGD_LR, momentum=SGD_MOMENTUM,
                                  weight_decay=SGD_WEIGHT_DECAY)
        for _ in range(max(1, steps)):
            if opt is not None:
                opt.zero_grad()
            y = m(xi)
            if loss == "weighted":
                value = (y * weights.to(dtype)).sum()
            else:
                value = torch.nn.functional.cross_entropy(y, targets)
            value.backward()
            if opt is not None:
                opt.step()
        tensors["output_" + suffix] = y.detach().contiguous()
        for n, p in m.named_parameters():
            if steps:
                tensors["param_%s.%s" % (suffix, n)] = p.detach().clone()
            elif p.grad is not None:
                tensors["grad_%s.%s" % (suffix, n)] = p.grad.detach().clone()
        if xi.grad is not None:
            tensors["input_grad_" + suffix] = xi.grad.detach().clone()
        if mode == "train":
            for k, v in m.state_dict().items():
                if "running" in k or "num_batches" in k:
                    tensors["after_%s.%s" % (suffix, k)] = v.detach().clone()
    meta = {
        "module": kind,
        "ctor": json.dumps(ctor),
        "mode": mode,
        "frozen": json.dumps(frozen),
        "loss": loss,
        "steps": str(steps),
        "sgd": json.dumps({"lr": SGD_LR, "momentum": SGD_MOMENTUM, "weight_decay": SGD_WEIGHT_DECAY}),
    }
    save_safetensors(tensors, os.path.join(out_dir, "grads_%s.safetensors" % name), metadata=meta)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", default=None, help="comma-separated case names")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    only = set(args.only.split(",")) if args.only else None
    for i, case in enumerate(CASES):
        if only and case[0] not in only:
            continue
        run_case(args.out, *case, seed=3000 + i)
        print("wrote", case[0], flush=True)


if __name__ == "__main__":
    main()
