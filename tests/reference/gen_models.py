"""Writes PyTorch references for the R(2+1)D modules: for each case a
safetensors file with the module's state (`state.<key>`, torch's order), the
input, and the outputs of the same weights in float32 and float64 torch. Cases
in training mode also hold the running statistics after the forward pass
(`after_f32.<key>`, `after_f64.<key>`). Metadata: the module, its constructor
arguments, the mode, and torch's named_parameters / named_buffers key lists."""

import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))

from convert_checkpoint import save_safetensors  # noqa: E402
import seed_model as sm  # noqa: E402


def randomize_batch_norms(module, gen):
    """Non-trivial affine parameters and running statistics for every BatchNorm."""
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            c = m.num_features
            with torch.no_grad():
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                m.num_batches_tracked.fill_(int(torch.randint(0, 100, (1,), generator=gen)))


def build(kind, args):
    if kind == "SpatioTemporalConv":
        return sm.SpatioTemporalConv(*args["args"], **args.get("kwargs", {}))
    if kind == "SpatioTemporalResBlock":
        return sm.SpatioTemporalResBlock(*args["args"], **args.get("kwargs", {}))
    if kind == "SpatioTemporalResLayer":
        return sm.SpatioTemporalResLayer(*args["args"], **args.get("kwargs", {}))
    if kind == "R2Plus1DNet":
        return sm.R2Plus1DNet(*args["args"])
    if kind == "R2Plus1DClassifier":
        return sm.R2Plus1DClassifier(*args["args"])
    raise ValueError(kind)


CASES = [
    # name, module, constructor args, input shape, mode
    ("stconv_first", "SpatioTemporalConv",
     {"args": [3, 64, [1, 7, 7]], "kwargs": {"stride": [1, 2, 2], "padding": [0, 3, 3], "first_conv": True}},
     [1, 3, 4, 20, 18], "eval"),
    ("stconv_k3", "SpatioTemporalConv", {"args": [8, 16, 3], "kwargs": {"padding": 1}}, [2, 8, 5, 9, 7], "eval"),
    ("stconv_k1_s2", "SpatioTemporalConv", {"args": [8, 16, 1], "kwargs": {"stride": 2}}, [1, 8, 5, 9, 8], "eval"),
    ("stconv_bias_mixed", "SpatioTemporalConv",
     {"args": [6, 10, [3, 5, 3]], "kwargs": {"stride": [2, 1, 2], "padding": [1, 2, 0], "bias": True}},
     [2, 6, 7, 8, 9], "eval"),
    ("stconv_first_train", "SpatioTemporalConv",
     {"args": [3, 12, [1, 7, 7]], "kwargs": {"stride": [2, 2, 2], "padding": [0, 3, 3], "first_conv": True}},
     [2, 3, 6, 15, 16], "train"),
    ("block_identity", "SpatioTemporalResBlock", {"args": [8, 8, 3]}, [2, 8, 4, 7, 6], "eval"),
    ("block_downsample", "SpatioTemporalResBlock", {"args": [8, 16, 3, True]}, [1, 8, 5, 9, 10], "eval"),
    ("block_downsample_train", "SpatioTemporalResBlock", {"args": [6, 12, 3, True]}, [2, 6, 4, 8, 8], "train"),
    ("layer_3_downsample", "SpatioTemporalResLayer", {"args": [8, 16, 3, 3], "kwargs": {"downsample": True}},
     [1, 8, 6, 10, 9], "eval"),
    ("layer_2", "SpatioTemporalResLayer", {"args": [8, 8, 3, 2]}, [2, 8, 3, 5, 5], "eval"),
    ("net_1111_small", "R2Plus1DNet", {"args": [[1, 1, 1, 1]]}, [2, 3, 8, 32, 40], "eval"),
    ("classifier_1111", "R2Plus1DClassifier", {"args": [10, [1, 1, 1, 1]]}, [2, 3, 4, 24, 24], "eval"),
    ("net_2222_16x112x112", "R2Plus1DNet", {"args": [[2, 2, 2, 2]]}, [1, 3, 16, 112, 112], "eval"),
    ("net_2222_odd", "R2Plus1DNet", {"args": [[2, 2, 2, 2]]}, [2, 3, 8, 96, 128], "eval"),
]


def run_case(out_dir, name, kind, ctor, shape, mode, seed, builder=build, prefix="model_", dtypes=("f32", "f64")):
    """Writes <prefix><name>.safetensors for the module builder(kind, ctor), with
    the outputs of the torch dtypes named in `dtypes`."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = builder(kind, ctor)
    randomize_batch_norms(model, gen)
    x = torch.randn(*shape, generator=gen)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    tensors = {"state." + k: v for k, v in state.items()}
    tensors["input"] = x
    for suffix, dtype in (("f32", torch.float32), ("f64", torch.float64)):
        if suffix not in dtypes:
            continue
        m = builder(kind, ctor)
        m.load_state_dict(state)
        m = m.to(dtype)
        m.train(mode == "train")
        with torch.no_grad():
            y = m(x.to(dtype))
        tensors["output_" + suffix] = y.contiguous()
        if mode == "train":
            for k, v in m.state_dict().items():
                if "running" in k or "num_batches" in k:
                    tensors["after_%s.%s" % (suffix, k)] = v.detach().clone()
    meta = {
        "module": kind,
        "ctor": json.dumps(ctor),
        "mode": mode,
        "parameters": json.dumps([k for k, _ in model.named_parameters()]),
        "buffers": json.dumps([k for k, _ in model.named_buffers()]),
        "num_parameters": str(sum(p.numel() for p in model.parameters())),
    }
    save_safetensors(tensors, os.path.join(out_dir, "%s%s.safetensors" % (prefix, name)), metadata=meta)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", default=None, help="comma-separated case names")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    only = set(args.only.split(",")) if args.only else None
    for i, (name, kind, ctor, shape, mode) in enumerate(CASES):
        if only and name not in only:
            continue
        run_case(args.out, name, kind, ctor, shape, mode, seed=1000 + i)
        print("wrote", name, flush=True)


if __name__ == "__main__":
    main()
