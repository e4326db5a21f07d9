"""Writes PyTorch references for the primitive modules and kernels: Conv3d,
BatchNorm3d, ReLU, AdaptiveAvgPool3d and Linear, one safetensors file per op
(`primitives_<op>.safetensors`).

Every case stores, under the prefix `<case>.`:
  state.<key>       the module's state_dict before the forward passes (float32,
                    num_batches_tracked int64), torch's key order;
  input.<step>      the input of each forward pass (float32);
  output_f32.<step> torch's float32 output;
  output_f64.<step> the output of the same weights and inputs in float64 torch;
  after_f32.<key>, after_f64.<key>
                    buffers after the passes (BatchNorm in training mode).
Weights and inputs are drawn in float32, so the float64 run sees exactly the
same values. The metadata key "cases" holds a JSON list with each case's name,
constructor options, mode, number of steps, state keys and, for BatchNorm,
num_batches_tracked before and after."""

import argparse
import json
import math
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))

from convert_checkpoint import save_safetensors  # noqa: E402

SEED = 20240611


def triple(v):
    return [v, v, v] if isinstance(v, int) else list(v)


class Writer:
    """Collects the tensors and case descriptions of one op's file,
    `<prefix>_<op>.safetensors`."""

    def __init__(self, op, prefix="primitives"):
        self.op = op
        self.prefix = prefix
        self.tensors = {}
        self.cases = []

    def put(self, name, t):
        assert name not in self.tensors, name
        self.tensors[name] = t.detach().clone().contiguous()

    def save(self, out_dir):
        meta = {"cases": json.dumps(self.cases), "torch": torch.__version__, "op": self.op}
        save_safetensors(self.tensors, os.path.join(out_dir, "%s_%s.safetensors" % (self.prefix, self.op)), metadata=meta)


def run_case(w, name, make_module, inputs, train, case_meta, randomize=None):
    """Builds the module in float32 (then a float64 copy of the same state), runs
    every input through both, and records state, inputs, outputs and buffers."""
    m32 = make_module()
    if randomize is not None:
        randomize(m32)
    m64 = make_module().double()
    m64.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in m32.state_dict().items()})
    state = m32.state_dict()
    for k, v in state.items():
        w.put("%s.state.%s" % (name, k), v)
    m32.train(train)
    m64.train(train)
    for step, x in enumerate(inputs):
        w.put("%s.input.%d" % (name, step), x)
        with torch.no_grad():
            w.put("%s.output_f32.%d" % (name, step), m32(x))
            w.put("%s.output_f64.%d" % (name, step), m64(x.double()))
    if train:
        for k, v in m32.named_buffers():
            w.put("%s.after_f32.%s" % (name, k), v)
        for k, v in m64.named_buffers():
            w.put("%s.after_f64.%s" % (name, k), v)
    meta = dict(case_meta)
    meta.update({
        "name": name,
        "mode": "train" if train else "eval",
        "steps": len(inputs),
        "state_keys": list(state.keys()),
    })
    w.cases.append(meta)


def conv3d_cases(out_dir):
    w = Writer("conv3d")
    # (name, in, out, kernel, stride, padding, dilation, groups, bias, input shape (N, D, H, W))
    grid = [
        ("k111", 4, 8, 1, 1, 0, 1, 1, True, (2, 5, 9, 11)),
        ("k111_s2", 4, 8, 1, 2, 0, 1, 1, False, (2, 5, 9, 11)),
        ("k111_s122_p011", 4, 6, 1, (1, 2, 2), (0, 1, 1), 1, 2, True, (1, 5, 9, 11)),
        ("k111_s213_g4", 4, 8, 1, (2, 1, 3), 0, 1, 4, True, (2, 5, 9, 11)),
        ("k333_p1", 4, 8, 3, 1, 1, 1, 1, True, (2, 5, 9, 11)),
        ("k333_s2_p1_nobias", 4, 8, 3, 2, 1, 1, 1, False, (2, 5, 9, 11)),
        ("k333_d2", 4, 8, 3, 1, 0, 2, 1, True, (1, 5, 9, 11)),
        ("k333_d2_p1_s2", 3, 5, 3, 2, 1, 2, 1, True, (2, 5, 9, 11)),
        ("k333_g2_p1", 4, 8, 3, 1, 1, 1, 2, True, (2, 4, 7, 6)),
        ("k333_g4_p1_s122", 4, 8, 3, (1, 2, 2), 1, 1, 4, False, (2, 5, 9, 11)),
        ("k177_s122_p033", 3, 8, (1, 7, 7), (1, 2, 2), (0, 3, 3), 1, 1, False, (2, 4, 9, 11)),
        ("k177_p033_d121", 3, 6, (1, 7, 7), 1, (0, 3, 3), (1, 2, 1), 1, True, (1, 3, 9, 11)),
        ("k311_s211_p100", 6, 4, (3, 1, 1), (2, 1, 1), (1, 0, 0), 1, 1, False, (2, 5, 9, 11)),
        ("k311_g2_d2_p102", 4, 6, (3, 1, 1), 1, (1, 0, 2), 2, 2, True, (2, 5, 4, 3)),
        ("k234", 4, 8, (2, 3, 4), 1, 0, 1, 1, True, (1, 5, 9, 11)),
        ("k234_s213_p102_d121_g2", 4, 8, (2, 3, 4), (2, 1, 3), (1, 0, 2), (1, 2, 1), 2, True, (2, 5, 9, 11)),
        ("k234_s2_p1_g4", 8, 4, (2, 3, 4), 2, 1, 1, 4, False, (1, 6, 8, 10)),
        ("k333_small_odd", 3, 5, 3, 2, 1, 1, 1, True, (2, 3, 5, 7)),
        ("k333_exact_fit", 2, 3, 3, 1, 0, 1, 1, True, (1, 3, 3, 3)),
        ("k333_wide", 48, 32, 3, 1, 1, 1, 1, False, (1, 4, 10, 10)),
        ("k133_s122_wide", 64, 40, (1, 3, 3), (1, 2, 2), (0, 1, 1), 1, 1, True, (2, 3, 12, 12)),
        # temporal kernels on frames large enough for the direct (column-free) path
        ("k311_p100_large", 6, 5, (3, 1, 1), 1, (1, 0, 0), 1, 1, True, (2, 5, 16, 20)),
        ("k311_p300_d2_g2_large", 4, 6, (3, 1, 1), 1, (3, 0, 0), (2, 1, 1), 2, False, (1, 8, 16, 16)),
    ]
    for name, cin, cout, k, s, p, d, g, bias, (n, D, H, W) in grid:
        x = torch.randn(n, cin, D, H, W)
        opts = {"in_channels": cin, "out_channels": cout, "kernel_size": triple(k), "stride": triple(s),
                "padding": triple(p), "dilation": triple(d), "groups": g, "bias": bias}

        def make(cin=cin, cout=cout, k=k, s=s, p=p, d=d, g=g, bias=bias):
            return torch.nn.Conv3d(cin, cout, k, stride=s, padding=p, dilation=d, groups=g, bias=bias)

        def randomize(m):
            with torch.no_grad():
                m.weight.copy_(torch.randn_like(m.weight) * (1.0 / math.sqrt(m.weight[0].numel())))
                if m.bias is not None:
                    m.bias.copy_(torch.randn_like(m.bias))

        run_case(w, name, make, [x], False, {"options": opts}, randomize)
    w.save(out_dir)


def batch_norm3d_cases(out_dir):
    w = Writer("batch_norm3d")
    gen = torch.Generator().manual_seed(SEED + 1)

    def randomize(m):
        c = m.num_features
        with torch.no_grad():
            if m.affine:
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen))
            if m.track_running_stats:
                m.running_mean.copy_(torch.randn(c, generator=gen))
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                m.num_batches_tracked.fill_(int(torch.randint(0, 10, (1,), generator=gen)))

    # (name, channels, eps, momentum, affine, track, train, input shape (N, D, H, W), steps, offset)
    grid = [
        ("eval", 6, 1e-5, 0.1, True, True, False, (2, 3, 5, 7), 1, 0.0),
        ("eval_eps1e-3", 6, 1e-3, 0.1, True, True, False, (2, 3, 5, 7), 1, 0.0),
        ("eval_no_affine", 5, 1e-5, 0.1, False, True, False, (2, 3, 5, 7), 1, 0.0),
        ("eval_no_tracking", 4, 1e-5, 0.1, True, False, False, (2, 3, 5, 7), 1, 0.0),
        ("train_m01", 6, 1e-5, 0.1, True, True, True, (2, 3, 5, 7), 3, 0.0),
        ("train_m03_offset", 6, 1e-5, 0.3, True, True, True, (2, 3, 5, 7), 2, 50.0),
        ("train_m_none", 6, 1e-5, None, True, True, True, (2, 3, 5, 7), 3, 0.0),
        ("train_no_affine", 5, 1e-5, 0.1, False, True, True, (3, 2, 4, 5), 2, 0.0),
        ("train_no_tracking", 4, 1e-5, 0.1, True, False, True, (2, 3, 5, 7), 2, 0.0),
        ("train_two_values", 3, 1e-5, 0.1, True, True, True, (1, 1, 1, 2), 1, 0.0),
        ("train_batch1", 8, 1e-5, None, True, True, True, (1, 4, 6, 6), 2, 0.0),
    ]
    for name, c, eps, momentum, affine, track, train, (n, D, H, W), steps, offset in grid:
        xs = [torch.randn(n, c, D, H, W) * 2.0 + offset for _ in range(steps)]
        opts = {"num_features": c, "eps": eps, "momentum": momentum, "affine": affine,
                "track_running_stats": track}

        def make(c=c, eps=eps, momentum=momentum, affine=affine, track=track):
            return torch.nn.BatchNorm3d(c, eps=eps, momentum=momentum, affine=affine, track_running_stats=track)

        extra = {"options": opts}
        m = make()
        randomize(m)
        if track:
            extra["num_batches_tracked_before"] = int(m.num_batches_tracked)
            extra["num_batches_tracked_after"] = int(m.num_batches_tracked) + (steps if train else 0)
        state = m.state_dict()
        run_case(w, name, lambda make=make, state=state: _loaded(make(), state), xs, train, extra)
    w.save(out_dir)


def _loaded(m, state):
    m.load_state_dict(state)
    return m


def relu_cases(out_dir):
    w = Writer("relu")
    special = torch.tensor([float("nan"), float("inf"), -float("inf"), -0.0, 0.0, 1e-40, -1e-40, 3.5, -2.25])
    for name, shape in [("rank5", (2, 3, 4, 5, 6)), ("rank2", (7, 9)), ("rank1", (200,))]:
        x = torch.randn(*shape).reshape(-1)
        x[: special.numel()] = special
        x = x[torch.randperm(x.numel())].reshape(shape)
        run_case(w, name, torch.nn.ReLU, [x], False, {"rank": len(shape)})
    w.save(out_dir)


def adaptive_avg_pool3d_cases(out_dir):
    w = Writer("adaptive_avg_pool3d")
    grid = [
        ("out1", 1, (2, 3, 5, 9, 11)),
        ("out235", (2, 3, 5), (2, 3, 5, 9, 11)),
        ("out333", (3, 3, 3), (1, 4, 7, 8, 10)),
        ("out333_exact", (3, 3, 3), (1, 2, 6, 9, 3)),
        ("larger_than_input", (3, 5, 7), (2, 2, 2, 3, 4)),
        ("mixed", (1, 4, 2), (1, 3, 16, 7, 7)),
    ]
    for name, out, shape in grid:
        x = torch.randn(*shape)
        run_case(w, name, lambda out=out: torch.nn.AdaptiveAvgPool3d(out), [x], False,
                 {"options": {"output_size": triple(out)}})
    w.save(out_dir)


def linear_cases(out_dir):
    w = Writer("linear")
    grid = [
        ("bias", 17, 5, True, 3),
        ("no_bias", 512, 10, False, 1),
        ("rows_over_block", 33, 9, True, 70),
        ("single_feature", 1, 4, True, 2),
    ]
    for name, fin, fout, bias, n in grid:
        x = torch.randn(n, fin)
        run_case(w, name, lambda fin=fin, fout=fout, bias=bias: torch.nn.Linear(fin, fout, bias=bias), [x], False,
                 {"options": {"in_features": fin, "out_features": fout, "bias": bias}})
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
