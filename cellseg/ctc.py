"""Cell Tracking Challenge output: ``maskNNN.tif`` files (uint16, 3 digits, 4 from 1000 frames on)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import write_labels


def mask_name(t: int, n_frames: int) -> str:
    return f"mask{t:0{4 if n_frames >= 1000 else 3}d}.tif"


def write_ctc_masks(folder: str | Path, labels: np.ndarray) -> list[Path]:
    """Write a 2-D label image or a (T, Y, X) label stack as CTC masks into ``folder``."""
    labels = np.asarray(labels)
    if labels.ndim == 2:
        labels = labels[None]
    if labels.ndim != 3:
        raise ValueError(f"CTC masks need 2-D or (T, Y, X) labels, got shape {labels.shape}")
    if labels.min() < 0 or labels.max() > np.iinfo(np.uint16).max:
        raise ValueError("CTC masks need labels between 0 and 65535")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [write_labels(folder / mask_name(t, len(labels)), frame) for t, frame in enumerate(labels)]
