"""Writes PyTorch autograd references for the gradients of the primitive ops:
conv3d, batch_norm (training and eval), relu, adaptive_avg_pool3d and linear,
one safetensors file per op (`backward_<op>.safetensors`).

Every case stores, under the prefix `<case>.`, the values drawn in float32:
  x, weight, bias, running_mean, running_var (those the op takes), grad_output;
and for <s> in f32, f64 (the same values run in float32 and in float64 torch):
  grad_input_<s>, grad_weight_<s>, grad_bias_<s>  torch's gradients (autograd);
  output_<s>                                      the forward output (BatchNorm);
  mean_<s>, invstd_<s>                            native_batch_norm's saved
                                                  statistics (BatchNorm training);
  running_mean_<s>, running_var_<s>               the running statistics after
                                                  the training step.
The metadata key "cases" holds a JSON list with each case's name and options."""

import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))

sys.path.insert(0, HERE)

from gen_primitives import Writer as PrimitivesWriter, triple  # noqa: E402,F401

SEED = 20240923
SUFFIX = {torch.float32: "f32", torch.float64: "f64"}


def Writer(op):
    """gen_primitives' Writer for this generator's `backward_<op>` files."""
    return PrimitivesWriter(op, "backward")


def grads(fn, inputs, grad_output, dtype):
    """Runs fn on copies of `inputs` (a dict of float32 tensors, None kept) in
    `dtype` and returns its output and the gradient of each input that
    requires one (names in `inputs`) for the given grad_output."""
    leaves = {k: (None if v is None else v.detach().to(dtype).clone().requires_grad_(True)) for k, v in inputs.items()}
    y = fn(**leaves)
    y.backward(grad_output.to(dtype))
    return y, {k: v.grad for k, v in leaves.items() if v is not None}


def conv3d_cases(out_dir):
    w = Writer("conv3d")
    # (name, in, out, kernel, stride, padding, dilation, groups, bias, input shape (N, D, H, W))
    grid = [
        ("k333_s1_p1", 4, 6, 3, 1, 1, 1, 1, True, (2, 4, 6, 7)),
        ("k333_s2_p1", 4, 6, 3, 2, 1, 1, 1, True, (2, 5, 7, 8)),
        ("k333_s1_p0", 3, 5, 3, 1, 0, 1, 1, False, (1, 4, 5, 6)),
        ("k333_d2_p2", 3, 4, 3, 1, 2, 2, 1, True, (1, 5, 7, 6)),
        ("k333_d2_p1_s2", 3, 4, 3, 2, 1, 2, 1, False, (2, 6, 9, 7)),
        ("k333_g2_p1", 4, 6, 3, 1, 1, 1, 2, True, (2, 4, 5, 6)),
        ("k333_g2_s2_d2_p1", 4, 6, 3, 2, 1, 2, 2, True, (1, 7, 9, 8)),
        ("k133_p011", 8, 12, (1, 3, 3), 1, (0, 1, 1), 1, 1, False, (2, 3, 7, 9)),
        ("k133_s122_p011", 8, 12, (1, 3, 3), (1, 2, 2), (0, 1, 1), 1, 1, False, (2, 3, 9, 11)),
        ("k311_p100", 12, 8, (3, 1, 1), 1, (1, 0, 0), 1, 1, False, (2, 5, 6, 7)),
        ("k311_s211_p100", 12, 8, (3, 1, 1), (2, 1, 1), (1, 0, 0), 1, 1, False, (2, 7, 5, 6)),
        ("k111_s2_downsample", 8, 16, 1, 2, 0, 1, 1, False, (2, 5, 7, 9)),
        ("k111_p1", 3, 4, 1, 1, 1, 1, 1, True, (1, 3, 4, 5)),
        ("k234_s213_p102_d121_g2", 4, 8, (2, 3, 4), (2, 1, 3), (1, 0, 2), (1, 2, 1), 2, True, (2, 5, 9, 11)),
        ("k177_s122_p033_stem", 3, 8, (1, 7, 7), (1, 2, 2), (0, 3, 3), 1, 1, False, (1, 3, 13, 15)),
        # more output positions than a column chunk holds, and wide channel blocks
        ("k133_s122_chunks", 16, 24, (1, 3, 3), (1, 2, 2), (0, 1, 1), 1, 1, True, (1, 8, 24, 26)),
        ("k333_p1_chunks", 16, 8, 3, 1, 1, 1, 1, True, (1, 4, 20, 18)),
        # stride-1 input gradients that the forward engine runs with Winograd (float, rows kernels)
        ("k133_p011_winograd", 8, 6, (1, 3, 3), 1, (0, 1, 1), 1, 1, True, (1, 2, 28, 30)),
        ("k311_p100_winograd", 6, 8, (3, 1, 1), 1, (1, 0, 0), 1, 1, False, (1, 6, 12, 12)),
    ]
    for name, cin, cout, k, s, p, d, g, bias, (n, D, H, W) in grid:
        k, s, p, d = triple(k), triple(s), triple(p), triple(d)
        x = torch.randn(n, cin, D, H, W)
        weight = torch.randn(cout, cin // g, *k) * (1.0 / math.sqrt(cin // g * k[0] * k[1] * k[2]))
        b = torch.randn(cout) if bias else None
        inputs = {"input": x, "weight": weight, "bias": b}

        def fn(input, weight, bias, s=s, p=p, d=d, g=g):
            return F.conv3d(input, weight, bias, stride=s, padding=p, dilation=d, groups=g)

        with torch.no_grad():
            dy = torch.randn_like(fn(**inputs))
        w.put(name + ".x", x)
        w.put(name + ".weight", weight)
        if bias:
            w.put(name + ".bias", b)
        w.put(name + ".grad_output", dy)
        for dtype, sfx in SUFFIX.items():
            _, gr = grads(fn, inputs, dy, dtype)
            w.put("%s.grad_input_%s" % (name, sfx), gr["input"])
            w.put("%s.grad_weight_%s" % (name, sfx), gr["weight"])
            if bias:
                w.put("%s.grad_bias_%s" % (name, sfx), gr["bias"])
        w.cases.append({"name": name, "options": {
            "in_channels": cin, "out_channels": cout, "kernel_size": k, "stride": s, "padding": p, "dilation": d,
            "groups": g, "bias": bias}})
    w.save(out_dir)


def batch_norm3d_cases(out_dir):
    w = Writer("batch_norm3d")
    # (name, channels, eps, momentum, affine, running stats, training, input shape (N, D, H, W), offset)
    grid = [
        ("train", 6, 1e-5, 0.1, True, True, True, (2, 3, 5, 7), 0.0),
        ("train_m03_offset", 5, 1e-3, 0.3, True, True, True, (3, 2, 4, 5), 50.0),
        ("train_no_affine", 4, 1e-5, 0.1, False, True, True, (2, 3, 4, 5), 0.0),
        ("train_no_running", 4, 1e-5, 0.1, True, False, True, (2, 2, 3, 5), 0.0),
        ("train_three_values", 3, 1e-5, 0.1, True, True, True, (1, 1, 1, 3), 0.0),
        ("train_batch1", 8, 1e-5, 0.1, True, True, True, (1, 4, 6, 6), 0.0),
        ("eval", 6, 1e-5, 0.1, True, True, False, (2, 3, 5, 7), 0.0),
        ("eval_no_affine_eps1e-3", 5, 1e-3, 0.1, False, True, False, (2, 3, 4, 5), 3.0),
    ]
    for name, c, eps, momentum, affine, running, training, (n, D, H, W), offset in grid:
        x = torch.randn(n, c, D, H, W) * 2.0 + offset
        weight = torch.rand(c) + 0.5 if affine else None
        bias = torch.randn(c) if affine else None
        rm = torch.randn(c) + offset if running else None
        rv = torch.rand(c) + 0.5 if running else None
        dy = torch.randn(n, c, D, H, W)
        for key, v in [("x", x), ("weight", weight), ("bias", bias), ("running_mean", rm), ("running_var", rv),
                       ("grad_output", dy)]:
            if v is not None:
                w.put("%s.%s" % (name, key), v)
        for dtype, sfx in SUFFIX.items():
            rm_t = None if rm is None else rm.to(dtype).clone()
            rv_t = None if rv is None else rv.to(dtype).clone()

            def fn(input, weight, bias, rm_t=rm_t, rv_t=rv_t, training=training, momentum=momentum, eps=eps):
                return F.batch_norm(input, rm_t, rv_t, weight, bias, training=training, momentum=momentum, eps=eps)

            y, gr = grads(fn, {"input": x, "weight": weight, "bias": bias}, dy, dtype)
            w.put("%s.output_%s" % (name, sfx), y)
            w.put("%s.grad_input_%s" % (name, sfx), gr["input"])
            if affine:
                w.put("%s.grad_weight_%s" % (name, sfx), gr["weight"])
                w.put("%s.grad_bias_%s" % (name, sfx), gr["bias"])
            if training:
                if running:
                    w.put("%s.running_mean_%s" % (name, sfx), rm_t)
                    w.put("%s.running_var_%s" % (name, sfx), rv_t)
                _, save_mean, save_invstd = torch.native_batch_norm(
                    x.to(dtype), None, None, None, None, True, momentum, eps)
                w.put("%s.mean_%s" % (name, sfx), save_mean)
                w.put("%s.invstd_%s" % (name, sfx), save_invstd)
        w.cases.append({"name": name, "options": {
            "num_features": c, "eps": eps, "momentum": momentum, "affine": affine, "running": running,
            "training": training}})
    w.save(out_dir)


def relu_cases(out_dir):
    w = Writer("relu")
    special = torch.tensor([float("nan"), float("inf"), -float("inf"), -0.0, 0.0, 1e-40, -1e-40, 3.5, -2.25])
    for name, shape in [("rank5", (2, 3, 4, 5, 6)), ("rank2", (7, 9))]:
        x = torch.randn(*shape).reshape(-1)
        x[: special.numel()] = special
        x = x[torch.randperm(x.numel())].reshape(shape)
        dy = torch.randn(*shape)
        w.put(name + ".x", x)
        w.put(name + ".grad_output", dy)
        for dtype, sfx in SUFFIX.items():
            _, gr = grads(lambda input: torch.relu(input), {"input": x}, dy, dtype)
            w.put("%s.grad_input_%s" % (name, sfx), gr["input"])
        w.cases.append({"name": name, "rank": len(shape)})
    w.save(out_dir)


def adaptive_avg_pool3d_cases(out_dir):
    w = Writer("adaptive_avg_pool3d")
    grid = [
        ("out111", (1, 1, 1), (2, 3, 5, 9, 11)),
        ("out235_non_divisor", (2, 3, 5), (2, 3, 5, 7, 11)),
        ("out333_overlap", (3, 3, 3), (1, 4, 7, 8, 10)),
        ("larger_than_input", (3, 5, 7), (2, 2, 2, 3, 4)),
    ]
    for name, out, shape in grid:
        x = torch.randn(*shape)
        dy = torch.randn(*shape[:2], *out)
        w.put(name + ".x", x)
        w.put(name + ".grad_output", dy)
        for dtype, sfx in SUFFIX.items():
            _, gr = grads(lambda input, out=out: F.adaptive_avg_pool3d(input, out), {"input": x}, dy, dtype)
            w.put("%s.grad_input_%s" % (name, sfx), gr["input"])
        w.cases.append({"name": name, "output_size": list(out)})
    w.save(out_dir)


def linear_cases(out_dir):
    w = Writer("linear")
    grid = [
        ("bias", 17, 5, True, 3),
        ("no_bias", 512, 10, False, 2),
        ("rows_over_block", 33, 70, True, 130),
    ]
    for name, fin, fout, bias, n in grid:
        x = torch.randn(n, fin)
        weight = torch.randn(fout, fin) / math.sqrt(fin)
        b = torch.randn(fout) if bias else None
        dy = torch.randn(n, fout)
        w.put(name + ".x", x)
        w.put(name + ".weight", weight)
        if bias:
            w.put(name + ".bias", b)
        w.put(name + ".grad_output", dy)
        for dtype, sfx in SUFFIX.items():
            _, gr = grads(lambda input, weight, bias: F.linear(input, weight, bias),
                          {"input": x, "weight": weight, "bias": b}, dy, dtype)
            w.put("%s.grad_input_%s" % (name, sfx), gr["input"])
            w.put("%s.grad_weight_%s" % (name, sfx), gr["weight"])
            if bias:
                w.put("%s.grad_bias_%s" % (name, sfx), gr["bias"])
        w.cases.append({"name": name, "in_features": fin, "out_features": fout, "bias": bias})
    w.save(out_dir)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="directory for the safetensors files")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    conv3d_cases(args.out)
    batch_norm3d_cases(args.out)
    relu_cases(args.out)
    adaptive_avg_pool3d_cases(args.out)
    linear_cases(args.out)


if __name__ == "__main__":
    main()
