"""Training step time of the balanced multi-dataset step, split into data wait and compute.

python benchmarks/train_step.py [training/configs/universal_cpu.yaml] [--steps 10] [--device cpu]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from cellseg.training.data import infinite_loader
from cellseg.training.trainer import TrainConfig, Trainer


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("config", nargs="?", default="training/configs/universal_cpu.yaml")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--device", default=None)
    args = p.parse_args()
    cfg = TrainConfig.from_yaml(args.config)
    with tempfile.TemporaryDirectory() as out:
        over = {"out": out, **({"device": args.device} if args.device else {})}
        tr = Trainer(cfg, over)
        loaders = {
            n: infinite_loader(s, cfg.crop, cfg.batch, cfg.workers, 0, tr.device.type == "cuda")
            for n, s in tr.train_sets.items()
        }
        batches = {n: [next(it) for _ in range(args.steps + 2)] for n, it in loaders.items()}
        # data wait: time to draw one step's minibatches from the loaders
        t0 = time.perf_counter()
        for _ in range(args.steps):
            for it in loaders.values():
                next(it)
        data_s = (time.perf_counter() - t0) / args.steps
        # compute: the step on minibatches already in memory
        cached = {n: iter(b) for n, b in batches.items()}
        tr.train_step(cached)  # warm-up
        sync = torch.cuda.synchronize if tr.device.type == "cuda" else (lambda: None)
        sync()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            tr.train_step(cached)
        sync()
        step_s = (time.perf_counter() - t0) / args.steps
    n_img = cfg.batch * len(loaders)
    print(
        f"device {tr.device}, torch threads {torch.get_num_threads()}, encoder {cfg.model.get('encoder')}, "
        f"{len(loaders)} datasets x batch {cfg.batch}, crop {cfg.crop}"
    )
    print(f"  compute per step   {step_s:6.3f} s  ({n_img / step_s:6.2f} crops/s)")
    print(f"  data per step      {data_s:6.3f} s  (workers={cfg.workers} per dataset; overlaps compute when > 0)")


if __name__ == "__main__":
    main()
