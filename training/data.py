"""Training data: dataset specs from the YAML config -> samples -> random augmented crops.

Each dataset gets its own infinite loader, so the balanced step can draw one minibatch from each.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from cellseg.errors import CellsegError
from cellseg.normalize import percentile_normalize
from cellseg.targets import IGNORE, labels_to_classes

from .augment import dim_objects, random_gamma, synthetic_nuclei, train_transform


def resolve_root(data_root: str | None) -> Path:
    root = Path(os.environ.get("CELLSEG_DATA", data_root or "../shared/data"))
    if not root.is_dir():
        raise CellsegError(f"{root}: data folder not found (set data_root in the config or CELLSEG_DATA)")
    return root


#: the shared sets by name: the shipped model's corpus (benchmarks read their splits from it)
SHARED_SETS = Path(__file__).parent / "configs" / "ablation" / "base.yaml"


def shared_split(name: str, rgb: str = "luminance", data_root: str | None = None) -> tuple[list, list]:
    """(training, validation) samples of the shared set ``name`` (one of :data:`SHARED_SETS`'s datasets)."""
    from cellseg.datasets import load_split

    from .trainer import TrainConfig

    specs = {s.name: s for s in TrainConfig.from_yaml(SHARED_SETS).all_specs()}
    if name not in specs:
        raise CellsegError(f"{name}: not a shared set; known: {', '.join(specs)}")
    return load_split(specs[name], resolve_root(data_root), rgb)


class RandomCrops(IterableDataset):
    """Endless augmented crops (image (C, H, W) float32, target (H, W) int64 with 255 = ignore).

    With ``channels`` 2 the second channel is the nuclear channel: the sample's own where it has one,
    else a synthetic one drawn from the labels when ``synthetic`` (whole-cell sets), each shown in half
    of the crops and zeros in the other half, so the network works with and without it."""

    def __init__(
        self,
        samples: list,
        crop: int,
        seed: int = 0,
        band: int = 2,
        diameter: float | None = None,
        intensity=True,
        channels: int = 1,
        synthetic: bool = False,
        p_nuclear: float = 0.5,
        batch: int = 1,
        start: int = 0,
    ):
        if not samples:
            raise CellsegError("a training dataset has no samples")
        self.channels, self.synthetic, self.p_nuclear = channels, synthetic, p_nuclear
        prepared = [s if isinstance(s, Prepared) else prepare(s, channels, diameter) for s in samples]
        self.images = [p.image for p in prepared]
        self.labels = [p.labels for p in prepared]
        self.ignore = [p.ignore for p in prepared]
        self.crop, self.seed, self.band, self.intensity = crop, seed, band, intensity
        self.batch, self.start = batch, start  # minibatch size, and the first crop's index (resuming)
        self.transform = train_transform(crop)

    def crop_at(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Crop number ``index`` of this stream: the same every time (its randomness comes from
        (seed, index) alone), so a resumed run draws exactly the crops an uninterrupted one would."""
        rng = np.random.default_rng([self.seed, index])
        self.transform.set_random_seed(int(rng.integers(2**31)))
        i = int(rng.integers(len(self.images)))
        out = self.transform(image=self.images[i], masks=[self.labels[i], self.ignore[i].astype(np.uint8)])
        labels, ignore = out["masks"]
        image = out["image"]
        signal = image if image.ndim == 2 else image[..., 0]
        signal = random_gamma(dim_objects(signal, labels, rng), rng) if self.intensity else signal
        chans = [signal]
        if self.channels == 2:
            present = rng.random() < self.p_nuclear
            if present and image.ndim == 3:
                chans.append(image[..., 1])
            elif present and self.synthetic:
                chans.append(synthetic_nuclei(np.asarray(labels), rng))
            else:
                chans.append(np.zeros_like(signal))
        target = labels_to_classes(np.asarray(labels), self.band).astype(np.int64)
        target[np.asarray(ignore) > 0] = IGNORE
        x = np.ascontiguousarray(np.stack(chans), dtype=np.float32)
        return torch.from_numpy(x), torch.from_numpy(target)

    def __iter__(self):
        """Crops ``start``, ``start + 1``... in minibatches of ``batch``: worker w of W makes batches
        w, w + W, ... (the DataLoader hands them out in that round-robin order)."""
        info = get_worker_info()
        wid, workers = (info.id, info.num_workers) if info else (0, 1)
        self.transform = train_transform(self.crop)
        b = wid
        while True:
            for k in range(self.batch):
                yield self.crop_at(self.start + b * self.batch + k)
            b += workers


class Prepared(NamedTuple):
    """A training sample ready for cropping: percentile-normalized image (H, W) or (H, W, 2) with the
    nuclear channel, at the training object diameter, with its labels and ignore mask."""

    image: np.ndarray
    labels: np.ndarray
    ignore: np.ndarray


def normalized(sample, channels: int = 1) -> Prepared:
    """A reader's Sample percentile-normalized (with its nuclear channel for two-channel models) at its
    own scale, with an ignore mask (all False where the sample has none)."""
    ignore = sample.ignore if sample.ignore is not None else np.zeros(sample.labels.shape, bool)
    image = percentile_normalize(sample.image)
    if channels == 2 and sample.nuclear is not None:
        image = np.dstack([image, percentile_normalize(sample.nuclear)])
    return Prepared(image, sample.labels, ignore)


def prepare(sample, channels: int = 1, diameter: float | None = None) -> Prepared:
    """A reader's Sample as the crop stream uses it (``training/pack.py`` stores the same)."""
    return Prepared(*to_diameter(*normalized(sample, channels), diameter))


def diameter_factor(labels: np.ndarray, diameter: float | None) -> float:
    """The rescaling that brings the median object diameter of ``labels`` to ``diameter`` (1: none asked
    for, or no objects), within 0.1-10."""
    from cellseg.size import median_diameter

    d = median_diameter(labels) if diameter else None
    return float(np.clip(diameter / d, 0.1, 10.0)) if d else 1.0


def scaled(image: np.ndarray, labels: np.ndarray, ignore: np.ndarray, f: float):
    """``rescale`` by ``f``, or the arrays as they are when ``f`` is within 2% of 1."""
    return (image, labels, ignore) if abs(f - 1) < 0.02 else rescale(image, labels, ignore, f)


def to_diameter(image: np.ndarray, labels: np.ndarray, ignore: np.ndarray, diameter: float | None):
    """Rescale a sample so its median object diameter (from its labels) is ``diameter`` (None: as is).
    Image bilinear, labels and ignore mask nearest; the augmentation's scale jitter comes on top."""
    return scaled(image, labels, ignore, diameter_factor(labels, diameter))


def rescale(image: np.ndarray, labels: np.ndarray, ignore: np.ndarray, f: float):
    """Image (area when shrinking, bilinear when growing), labels and ignore mask (nearest) at ``f`` times
    their size."""
    import cv2

    size = (max(8, round(labels.shape[1] * f)), max(8, round(labels.shape[0] * f)))  # (width, height)
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    labels = cv2.resize(labels.astype(np.int32), size, interpolation=cv2.INTER_NEAREST)
    ignore = cv2.resize(ignore.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)
    return image, labels, ignore


def infinite_loader(
    samples: list,
    crop: int,
    batch: int,
    workers: int,
    seed: int,
    pin: bool,
    diameter: float | None = None,
    intensity: bool = True,
    channels: int = 1,
    synthetic: bool = False,
    start: int = 0,
):
    """Endless minibatches of one dataset, from crop number ``start`` (``steps done x batch`` on resume)."""
    ds = RandomCrops(
        samples,
        crop,
        seed,
        diameter=diameter,
        intensity=intensity,
        channels=channels,
        synthetic=synthetic,
        batch=batch,
        start=start,
    )
    loader = DataLoader(
        ds,
        batch_size=batch,
        num_workers=workers,
        pin_memory=pin,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers else None,
    )
    return iter(loader)
