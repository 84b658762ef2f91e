"""Training step time of the balanced multi-dataset step: data wait, and compute on each fast path.

python benchmarks/train_step.py [training/configs/universal_cpu.yaml] [--steps 10] [--device cpu]
                                [--variants fp32,channels_last,...]

Compute is timed on minibatches already in memory for fp32, channels_last, and channels_last + bf16
autocast, and channels_last with all sets in one pass (the trainer's ``channels_last``, ``bf16`` and ``fused``
options), and channels_last under ``torch.compile`` (inductor; the first step compiles and is not timed), so the
figures say which to use here. The answer depends on the CPU (the first line names it and
the instruction set torch uses): bf16 pays only where the CPU computes it natively (AMX, AVX-512-bf16).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time

import torch

from cellseg.inference import cpu_info, native_bf16
from cellseg.training.data import infinite_loader
from cellseg.training.trainer import TrainConfig, Trainer

VARIANTS = {
    "fp32": {"channels_last": False, "bf16": False},
    "channels_last": {"channels_last": True, "bf16": False},
    "channels_last + bf16": {"channels_last": True, "bf16": True},
    # one forward/backward over all sets' minibatches (same loss and gradient; group or frozen norm only)
    "channels_last + fused": {"channels_last": True, "bf16": False, "fused": True},
    # the network under torch.compile (not a trainer option: measured here to see whether it should be one)
    "channels_last + compile": {"channels_last": True, "bf16": False, "compile": True},
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("config", nargs="?", default="training/configs/universal_cpu.yaml")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--device", default=None)
    names = {v.replace(" ", ""): v for v in VARIANTS}  # fp32, channels_last, channels_last+bf16, ...
    p.add_argument("--variants", default=",".join(names), help="comma-separated, from: " + ", ".join(names))
    args = p.parse_args()
    unknown = [v for v in args.variants.split(",") if v not in names]
    if unknown:
        p.error(f"unknown variant {unknown[0]} (choose from {', '.join(names)})")
    variants = {names[v]: VARIANTS[names[v]] for v in args.variants.split(",")}
    variants.setdefault("fp32", VARIANTS["fp32"])  # the reference of the speed-ups
    cfg = TrainConfig.from_yaml(args.config)
    with tempfile.TemporaryDirectory() as out:
        over = {"out": out, **({"device": args.device} if args.device else {})}
        tr = Trainer(cfg, over)
        channels = tr.model.config.in_channels
        loaders = {
            n: infinite_loader(
                s,
                cfg.crop,
                cfg.batch,
                cfg.workers,
                0,
                tr.device.type == "cuda",
                diameter=cfg.object_diameter,
                channels=channels,
            )
            for n, s in tr.train_sets.items()
        }
        batches = {n: [next(it) for _ in range(args.steps + 2)] for n, it in loaders.items()}
        # data wait: time to draw one step's minibatches from the loaders
        t0 = time.perf_counter()
        for _ in range(args.steps):
            for it in loaders.values():
                next(it)
        data_s = (time.perf_counter() - t0) / args.steps
        timings = {}
        for name, variant in variants.items():
            if variant.get("fused") and tr.model.config.norm == "batch":
                continue
            tr = Trainer(cfg, {**over, **{k: v for k, v in variant.items() if k != "compile"}})
            if variant.get("compile"):
                tr.net = torch.compile(tr.net)
            cached = {n: iter(b) for n, b in batches.items()}
            tr.train_step(cached)  # warm-up (and compilation)
            sync = torch.cuda.synchronize if tr.device.type == "cuda" else (lambda: None)
            sync()
            t0 = time.perf_counter()
            for _ in range(args.steps):
                tr.train_step(cached)
            sync()
            timings[name] = (time.perf_counter() - t0) / args.steps
    n_img = cfg.batch * len(loaders)
    isa = torch.backends.cpu.get_cpu_capability()
    cpu = cpu_info("model name") or platform.processor() or "unknown"
    print(f"CPU {cpu}, torch {torch.__version__} using {isa}, native bf16: {native_bf16()}")
    print(
        f"device {tr.device}, torch threads {torch.get_num_threads()}, encoder {cfg.model.get('encoder')}, "
        f"{len(loaders)} datasets x batch {cfg.batch}, crop {cfg.crop}, {args.steps} steps"
    )
    for name, step_s in timings.items():
        speedup = timings["fp32"] / step_s
        print(f"  compute per step, {name:22s} {step_s:6.3f} s  ({n_img / step_s:6.2f} crops/s, x{speedup:.2f})")
    print(f"  data per step      {data_s:6.3f} s  (workers={cfg.workers} per dataset; overlaps compute when > 0)")


if __name__ == "__main__":
    main()
