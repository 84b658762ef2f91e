"""Training data: dataset specs from the YAML config -> samples -> random augmented crops.

Each dataset gets its own infinite loader, so the balanced step can draw one minibatch from each.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from cellseg.errors import CellsegError
from cellseg.normalize import percentile_normalize
from cellseg.targets import IGNORE, labels_to_classes

from .augment import train_transform


def resolve_root(data_root: str | None) -> Path:
    root = Path(os.environ.get("CELLSEG_DATA", data_root or "../shared/data"))
    if not root.is_dir():
        raise CellsegError(f"{root}: data folder not found (set data_root in the config or CELLSEG_DATA)")
    return root


class RandomCrops(IterableDataset):
    """Endless augmented crops (image (1, H, W) float32, target (H, W) int64 with 255 = ignore)."""

    def __init__(self, samples: list, crop: int, seed: int = 0, band: int = 2):
        if not samples:
            raise CellsegError("a training dataset has no samples")
        self.images = [percentile_normalize(s.image) for s in samples]
        self.labels = [s.labels for s in samples]
        self.ignore = [s.ignore if s.ignore is not None else np.zeros(s.labels.shape, bool) for s in samples]
        self.crop, self.seed, self.band = crop, seed, band

    def __iter__(self):
        info = get_worker_info()
        wid = info.id if info else 0
        rng = np.random.default_rng([self.seed, wid, torch.initial_seed() % 2**31])
        transform = train_transform(self.crop)
        transform.set_random_seed(int(rng.integers(2**31)))
        while True:
            i = int(rng.integers(len(self.images)))
            out = transform(image=self.images[i], masks=[self.labels[i], self.ignore[i].astype(np.uint8)])
            labels, ignore = out["masks"]
            target = labels_to_classes(np.asarray(labels), self.band).astype(np.int64)
            target[np.asarray(ignore) > 0] = IGNORE
            yield torch.from_numpy(np.ascontiguousarray(out["image"], dtype=np.float32))[None], torch.from_numpy(target)


def infinite_loader(samples: list, crop: int, batch: int, workers: int, seed: int, pin: bool):
    ds = RandomCrops(samples, crop, seed)
    loader = DataLoader(
        ds,
        batch_size=batch,
        num_workers=workers,
        pin_memory=pin,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers else None,
    )
    return iter(loader)
