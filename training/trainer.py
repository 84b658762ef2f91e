"""``cellseg train CONFIG.yaml``: balanced multi-dataset training.

Per optimizer step, one minibatch from every dataset in turn, a backward pass on each (gradients
accumulate), then one AdamW step; warmup + cosine learning rate. Validation SEG on held-out frames at
intervals keeps the best model (safetensors + JSON).

Resuming never lies about the state: ``state.pt`` holds the weights, optimizer, schedule, step and
best score of one step together, written to a temp file and renamed (tensors only, loaded with
``weights_only=True``), so a run killed at any moment (even SIGKILL) resumes from one consistent step.
On resume, ``log.csv`` and ``val_curve.jsonl`` are cut back to that step, so no step is ever logged
twice, and every dataset's crop stream restarts at the crop an uninterrupted run would draw next (crop k
of a stream depends only on the seed and k); temp files left by a killed run are removed. ``last/`` is
a copy of the latest weights as a model folder, for use, not for resuming. ``best/`` is replaced as a
whole folder (written beside it, then swapped in).
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml

from cellseg.channels import RGB_MODES
from cellseg.datasets import DatasetSpec, load_split
from cellseg.errors import CellsegError
from cellseg.inference import Segmenter, resolve_device
from cellseg.model import ModelConfig, build_model
from cellseg.modelfile import load_model, save_model

from .data import infinite_loader, resolve_root
from .distributed import Group
from .losses import SegLoss, mix_batch
from .pack import load_packed
from .validate import validate


@dataclass
class TrainConfig:
    datasets: list
    model: dict = field(default_factory=dict)
    data_root: str | None = None
    out: str = "runs/train"
    steps: int = 1000
    batch: int = 2  # per dataset per step
    crop: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: int = 100
    class_weights: list = field(default_factory=lambda: [1.0, 5.0, 10.0])
    dice_weight: float = 1.0
    val_every: int = 250
    val_max_frames: int = 4  # per dataset during training (the final report uses all)
    save_every: int = 50
    workers: int = 1  # per dataset
    device: str = "auto"
    seed: int = 0
    threads: int | None = None
    # the object diameter (pixels) every sample is rescaled to (by its labels' median); recorded in the
    # model so inference rescales images the same way. None: no size normalization (older recipe).
    object_diameter: float | None = None
    # dim a random subset of cells and a random gamma (training/augment.py); off to reproduce older runs
    intensity_augment: bool = True
    # grayscale of colour images (cellseg.channels): "luminance" or "hematoxylin" (stained slides);
    # recorded in the model so inference reads images the same way
    rgb: str = "luminance"
    # start from this model's weights (a model folder, .safetensors file or "default"); its network
    # config replaces ``model``. For longer runs of a finished recipe and for fine-tuning.
    init: str | None = None
    # views per dataset for the size regression fitted on best/ when a run with object_diameter
    # finishes (training/size_fit.py); 0: none (the size pass estimates sizes)
    size_views: int = 160
    # the fast paths (benchmarks/train_step.py measures them): channels_last memory layout, and bf16
    # autocast (always on CUDA; on CPU only when asked: it pays where the CPU has AMX / AVX-512 bf16)
    channels_last: bool = True
    bf16: bool = False
    # datasets (by name) left out of training and of checkpoint validation: leave-one-family-out runs
    # score them afterwards with the full config (python -m cellseg.training.report FULL.yaml --model ...)
    leave_out: list = field(default_factory=list)
    # end this invocation at this step, the schedule still that of ``steps`` (time-boxed sessions: run the
    # same command again to go on); None: run to ``steps``
    stop_at: int | None = None
    # datasets added to those of the base config (a config that extends its base's corpus)
    extra_datasets: list = field(default_factory=list)
    # a data pack (training/pack.py) to read instead of the data root: training on a lent machine
    packed: str | None = None
    # extra steps at which to validate besides every ``val_every`` (early points of the validation curve)
    val_at: list = field(default_factory=list)
    # refinement arms (issue 13): label smoothing of the cross-entropy; probability per minibatch of CutMix
    # (image and label maps) and of mixup (training/losses.py: mix_batch)
    label_smoothing: float = 0.0
    cutmix: float = 0.0
    mixup: float = 0.0
    # one forward/backward over every dataset's minibatch at once instead of one per dataset: the same
    # loss (each dataset's own, averaged) and, with group or frozen batch norm (no statistics shared
    # between samples), the same gradient; far fewer, larger kernels (a GPU left idle by ten small passes)
    fused: bool = False

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        if not path.is_file():
            raise CellsegError(f"{path}: no such config file")
        raw = _with_base(_read_yaml(path), path)
        known = set(cls.__dataclass_fields__)
        unknown = set(raw) - known
        if unknown:
            raise CellsegError(f"{path}: unknown keys {sorted(unknown)}")
        cfg = cls(**raw)
        cfg.dataset_specs()  # a bad dataset entry fails here, naming it
        return cfg

    def all_specs(self) -> list[DatasetSpec]:
        """Every dataset the config names, ``leave_out`` ones included."""
        entries = [*self.datasets, *self.extra_datasets]
        return [d if isinstance(d, DatasetSpec) else DatasetSpec.from_dict(d) for d in entries]

    def dataset_specs(self) -> list[DatasetSpec]:
        """The datasets trained on (and validated to choose checkpoints): all but ``leave_out``."""
        specs = self.all_specs()
        unknown = set(self.leave_out) - {s.name for s in specs}
        if unknown:
            raise CellsegError(f"leave_out names no dataset of the config: {sorted(unknown)}")
        return [s for s in specs if s.name not in self.leave_out]


def _read_yaml(path: Path) -> dict:
    try:
        return yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise CellsegError(f"{path}: not valid YAML ({e})") from None


def _with_base(raw: dict, path: Path, depth: int = 0) -> dict:
    """A config may start from another (``base: other.yaml``, relative to it): its keys override the
    base's, and its ``model`` entries override the base model's one by one."""
    if "base" not in raw:
        return raw
    if depth > 8:
        raise CellsegError(f"{path}: base configs nest too deep")
    base_path = path.parent / raw["base"]
    if not base_path.is_file():
        raise CellsegError(f"{path}: base config {base_path} not found")
    base = _with_base(_read_yaml(base_path), base_path, depth + 1)
    merged = {**base, **{k: v for k, v in raw.items() if k != "base"}}
    merged["model"] = {**base.get("model", {}), **raw.get("model", {})}
    return merged


def _cut_back(path: Path, step: int, step_of, header: int = 0) -> None:
    """Rewrite a log (atomically, line endings kept) without its rows after ``step``; ``step_of(row)``
    gives a row's step, None for a row to drop; the first ``header`` rows stay."""
    if not path.is_file():
        return
    rows = path.read_bytes().decode().splitlines(keepends=True)
    keep = rows[:header] + [r for r in rows[header:] if (s := step_of(r)) is not None and s <= step]
    if len(keep) != len(rows):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes("".join(keep).encode())
        os.replace(tmp, path)


def lr_factor(step: int, warmup: int, total: int, floor: float = 0.01) -> float:
    """Linear warmup, then cosine decay to ``floor`` of the peak."""
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


class Trainer:
    def __init__(self, cfg: TrainConfig, overrides: dict | None = None, samples: dict | None = None):
        """``samples``: {dataset name: (training samples, validation samples)} given in memory instead
        of read from the data root (fine-tuning on a user's images: training/finetune.py)."""
        for k, v in (overrides or {}).items():
            setattr(cfg, k, v)
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.group = Group(resolve_device(cfg.device))  # one process, or one rank of a torchrun job
        self.device = self.group.device
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        samples = samples or {}
        needs_root = not cfg.packed and any(spec.name not in samples for spec in cfg.all_specs())
        root = resolve_root(cfg.data_root) if needs_root else None
        if cfg.rgb not in RGB_MODES:
            raise CellsegError(f"rgb must be one of {', '.join(RGB_MODES)}, not {cfg.rgb!r}")
        self.train_sets, self.val_sets = {}, {}
        self.specs = {spec.name: spec for spec in cfg.dataset_specs()}
        self.held_out = {}  # leave_out sets: never trained on nor used to choose, but scored at validation
        for spec in cfg.all_specs():
            if spec.name in samples:
                train, val = samples[spec.name]
            elif cfg.packed:
                train, val = load_packed(cfg.packed, spec.name, cfg)
            else:
                train, val = load_split(spec, root, cfg.rgb)
            if spec.name not in self.specs:
                if val:
                    self.held_out[spec.name] = val
                continue
            self.train_sets[spec.name] = train
            if val:
                self.val_sets[spec.name] = val
        self.init_crops: int | None = 0  # crops the starting weights had seen (None: not recorded)
        self.lineage_seeds: list[int] = []
        if cfg.init:
            self.model, meta = load_model(cfg.init)
            self.model = self.model.to(self.device)
            cfg.model = meta["model"]
            before = meta.get("training", {})
            self.init_crops = before.get("crops_in_all", before.get("crops"))
            # the crop-stream seeds of the starting model's lineage (models before this field: seed 0)
            self.lineage_seeds = list(before.get("lineage_seeds", [0] if before else []))
            if cfg.seed in self.lineage_seeds and self.group.rank == 0:
                print(
                    f"warning: {cfg.init} was trained on the crop streams of seed {cfg.seed} already; this run "
                    "draws the same crops again (give the config another seed to draw new ones)",
                    file=sys.stderr,
                )
        else:
            self.model = build_model(ModelConfig.from_dict(cfg.model)).to(self.device)
        if cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        if cfg.fused and self.model.config.norm == "batch":
            raise CellsegError("fused: needs group or frozen norm (batch norm would mix the datasets' statistics)")
        self.net = self.group.wrap(self.model)  # DDP across ranks, else the model itself
        self.criterion = SegLoss(cfg.class_weights, cfg.dice_weight, cfg.label_smoothing).to(self.device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: lr_factor(s, cfg.warmup, cfg.steps))
        self.step, self.best = 0, -1.0
        self._stop = False

    # -- persistence -----------------------------------------------------------------------
    def summary(self) -> dict:
        c = self.cfg
        crops = self.step * c.batch * len(self.train_sets)
        return {
            "object_diameter": c.object_diameter,
            "rgb": c.rgb,
            "training": {
                "steps": self.step,
                # where it started (a model name or folder; None: the encoder's ImageNet weights or random)
                # and the crops this run showed it; crops_in_all adds those its starting model had seen over
                # its own lineage of warm starts (None where that model does not record them)
                "init": c.init,
                "crops": crops,
                "crops_in_all": None if self.init_crops is None else self.init_crops + crops,
                # crop k of a set's stream depends only on the seed and k: a warm start that reuses a seed
                # of its lineage shows the model the same crops again
                "seed": c.seed,
                "lineage_seeds": sorted(set(self.lineage_seeds) | {c.seed}),
                "datasets": {k: len(v) for k, v in self.train_sets.items()},
                "batch_per_dataset": c.batch,
                "crop": c.crop,
                "lr": c.lr,
                "class_weights": c.class_weights,
                "best_val_seg": self.best,
            },
        }

    def save_state(self) -> None:
        """Weights, optimizer, schedule, step and best score of this step in one file, atomically."""
        state = {
            "step": torch.tensor(self.step),
            "best": torch.tensor(self.best),
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
        }
        tmp = self.out / f".state.pt.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.out / "state.pt")
        finally:
            tmp.unlink(missing_ok=True)
        save_model(self.model, self.out / "last", half=False, **self.summary())

    def clean_leftovers(self) -> None:
        """Remove temp files and half-swapped folders a killed run may have left."""
        for d in (self.out, self.out / "last", self.out / "best"):
            if d.is_dir():
                for f in d.iterdir():
                    if f.name.startswith(".") and f.name.endswith(".tmp"):
                        f.unlink(missing_ok=True)
        if not (self.out / "best").is_dir() and (self.out / "best.old").is_dir():
            (self.out / "best.old").rename(self.out / "best")  # killed mid-swap: the old best is whole
        for d in ("best.new", "best.old"):
            shutil.rmtree(self.out / d, ignore_errors=True)

    def try_resume(self) -> bool:
        if self.group.main:
            self.clean_leftovers()
        self.group.barrier()
        if not (self.out / "state.pt").is_file():
            return False
        state = torch.load(self.out / "state.pt", map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        self.step, self.best = int(state["step"]), float(state["best"])
        best_cfg = self.out / "best" / "config.json"
        if best_cfg.is_file():  # a best model saved after the last state keeps its score
            try:
                saved = json.loads(best_cfg.read_text()).get("training", {}).get("best_val_seg", -1.0)
                self.best = max(self.best, float(saved))
            except (ValueError, TypeError):
                pass
        return True

    def cut_log(self, log_path: Path) -> None:
        """Keep only log rows up to the resumed step (later rows belong to steps that will run again)."""

        def step_of(row: str):
            first = row.split(",", 1)[0]
            return int(first) if first.isdigit() else None

        _cut_back(log_path, self.step, step_of, header=1)

    def cut_curve(self, path: Path) -> None:
        """Keep only validation-curve rows up to the resumed step."""
        _cut_back(path, self.step, lambda row: json.loads(row).get("step", 0) if row.strip() else None)

    # -- the balanced multi-dataset step ---------------------------------------------------
    def train_step(self, loaders: dict) -> dict:
        self.model.train()
        self.opt.zero_grad(set_to_none=True)
        losses = {}
        bf16 = self.device.type == "cuda" or self.cfg.bf16
        self.data_seconds = 0.0  # time blocked on the crop workers this step (the rest is compute)
        fused = []
        for k, (name, it) in enumerate(loaders.items()):
            t0 = time.perf_counter()
            x, y = next(it)
            self.data_seconds += time.perf_counter() - t0
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True)
            if self.cfg.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            rng = np.random.default_rng([self.cfg.seed, self.group.rank, self.step, k])
            x, y, y2, lam = mix_batch(x, y, rng, self.cfg.cutmix, self.cfg.mixup)
            if self.cfg.fused:
                fused.append((name, x, y, y2, lam))
                continue
            with self.group.no_sync(self.net, last=k == len(loaders) - 1):  # one all-reduce a step
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
                    loss = self._loss(self.net(x), y, y2, lam) / len(loaders)
                loss.backward()
            losses[name] = loss.detach()
        if fused:
            x = torch.cat([b[1] for b in fused])
            if self.cfg.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
                out, start, total = self.net(x), 0, 0.0
                for name, xb, y, y2, lam in fused:
                    loss = self._loss(out[start : start + len(xb)], y, y2, lam) / len(loaders)
                    start += len(xb)
                    total = total + loss
                    losses[name] = loss.detach()
            total.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        if torch.isfinite(norm):  # a non-finite step is skipped, not applied
            self.opt.step()
        self.sched.step()
        mean = self.group.mean(torch.stack(list(losses.values()))) * len(loaders)  # over ranks
        return dict(zip(losses, mean.tolist()))  # one host sync per step

    def _loss(self, out: torch.Tensor, y: torch.Tensor, y2, lam: float) -> torch.Tensor:
        if y2 is None:
            return self.criterion(out, y)
        return lam * self.criterion(out, y) + (1 - lam) * self.criterion(out, y2)  # mixup: both targets

    def loaders(self) -> dict:
        """An endless minibatch stream per training dataset, from the crops of the current step on."""
        c = self.cfg
        pin = self.device.type == "cuda"
        return {
            name: infinite_loader(
                s,
                c.crop,
                c.batch,
                c.workers,
                c.seed + 1000 * i + 1_000_000 * self.group.rank,  # each rank its own crops
                pin,
                diameter=c.object_diameter,
                intensity=c.intensity_augment,
                channels=self.model.config.in_channels,
                synthetic=self.specs[name].objects == "cells",
                start=self.step * c.batch,  # resumed: the crops an uninterrupted run would draw next
            )
            for i, (name, s) in enumerate(self.train_sets.items())
        }

    def run(self, resume: bool = True) -> float:
        from tqdm import tqdm

        c = self.cfg
        main = self.group.main
        if resume and self.try_resume():
            if main:
                print(f"resumed from {self.out} at step {self.step}")
        elif main:
            self.clean_leftovers()
        loaders = self.loaders()
        log_path = self.out / "log.csv"
        if main:
            self.cut_log(log_path)
            self.cut_curve(self.out / "val_curve.jsonl")
        new_log = not log_path.exists() or self.step == 0
        # only rank 0 logs (noqa SIM115: closed in the finally below)
        log = open(log_path if main else os.devnull, "w" if new_log or not main else "a", newline="")  # noqa: SIM115
        writer = csv.writer(log)
        if new_log:
            writer.writerow(["step", "lr", "loss", *loaders, "seconds", "val_seg", "data_seconds"])
        old = {s: signal.signal(s, self._request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        bar = tqdm(total=c.steps, initial=self.step, desc="train", unit="step", dynamic_ncols=True, disable=not main)
        try:
            end = min(c.steps, c.stop_at or c.steps)
            while self.step < end and not self.group.any(self._stop):
                t0 = time.perf_counter()
                losses = self.train_step(loaders)
                self.step += 1
                mean = float(np.mean(list(losses.values())))
                val = ""
                if self.step % c.val_every == 0 or self.step == c.steps or self.step in c.val_at:
                    val = self.validate_and_keep_best() if main else ""
                    self.group.barrier()
                writer.writerow(
                    [
                        self.step,
                        f"{self.sched.get_last_lr()[0]:.3e}",
                        f"{mean:.4f}",
                        *(f"{v:.4f}" for v in losses.values()),
                        f"{time.perf_counter() - t0:.3f}",
                        val,
                        f"{self.data_seconds:.3f}",
                    ]
                )
                log.flush()
                bar.set_postfix(loss=f"{mean:.3f}", best=f"{self.best:.3f}")
                bar.update(1)
                if self.step % c.save_every == 0 and main:
                    self.save_state()
        finally:
            bar.close()
            if main:
                self.save_state()
            log.close()
            for s, h in old.items():
                signal.signal(s, h)
        self._stop = self.group.any(self._stop)
        if self.group.distributed:
            agree = self.group.weights_agree(self.model)
            if main:
                print(f"weights {'identical' if agree else 'DIFFER'} on {self.group.world} ranks at step {self.step}")
            if not agree:
                raise CellsegError("ranks hold different weights: the distributed run is broken")
        if not main:
            return self.best
        if self._stop or self.step < c.steps:
            print(f"stopped at step {self.step} of {c.steps}; run the same command again to resume")
        elif c.object_diameter and c.size_views and (self.out / "best").is_dir():
            from .size_fit import fit_size_model

            fit_size_model(c, self.out / "best", c.size_views, c.seed)
        return self.best

    def replace_best(self, **info) -> None:
        """Write ``best.new/``, then swap it in for ``best/`` (a kill leaves one whole best folder)."""
        new, old, best = self.out / "best.new", self.out / "best.old", self.out / "best"
        shutil.rmtree(new, ignore_errors=True)
        save_model(self.model, new, **self.summary(), **info)
        if best.is_dir():
            shutil.rmtree(old, ignore_errors=True)
            best.rename(old)
        new.rename(best)
        shutil.rmtree(old, ignore_errors=True)

    def _request_stop(self, signum, frame):
        self._stop = True

    def validate_and_keep_best(self) -> str:
        if not self.val_sets:
            self.replace_best()
            return ""
        seg = Segmenter(self.model, device=str(self.device))
        seg.model_diameter = self.cfg.object_diameter
        seg.rgb = self.cfg.rgb
        # sizes given from the labels: the size regression is fitted once training ends, and checkpoints
        # are chosen by what the network segments, not by how well a provisional estimate judged sizes
        given = bool(self.cfg.object_diameter)
        scores = validate(seg, self.val_sets, max_frames=self.cfg.val_max_frames, given_size=given)
        mean = float(np.mean([s["SEG"] for s in scores.values()]))
        if mean > self.best:
            self.best = mean
            self.replace_best(validation={k: round(v["SEG"], 4) for k, v in scores.items()})
        # left-out sets are scored for the record (leave-one-out tables), never to choose a checkpoint
        held = validate(seg, self.held_out, max_frames=self.cfg.val_max_frames, given_size=given)
        record = {"step": self.step, **scores, **({"held_out": held} if held else {})}
        (self.out / "val_last.json").write_text(json.dumps(record, indent=1))
        crops = self.step * self.cfg.batch * len(self.train_sets)
        with open(self.out / "val_curve.jsonl", "a") as f:  # the validation curve: SEG per set against steps
            row = {"step": self.step, "crops": crops, "mean": round(mean, 4)}
            row.update({k: round(v["SEG"], 4) for k, v in scores.items()})
            row.update({f"held_out:{k}": round(v["SEG"], 4) for k, v in held.items()})
            f.write(json.dumps(row) + "\n")
        return f"{mean:.4f}"


def train(config_path: str | Path, **overrides) -> float:
    cfg = TrainConfig.from_yaml(config_path)
    return Trainer(cfg, {k: v for k, v in overrides.items() if v is not None}).run()
