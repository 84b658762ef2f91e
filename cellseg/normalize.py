"""Percentile normalization: maps the low/high percentiles of an image to 0/1, so that 8-bit,
16-bit and float data look alike to the network."""

from __future__ import annotations

import numpy as np

#: percentiles of images larger than this are taken on an evenly strided subsample (bounded memory)
SAMPLE_PIXELS = 4_000_000


def percentile_range(img: np.ndarray, low: float = 1.0, high: float = 99.8) -> tuple[float, float]:
    """(lo, hi) intensities at the ``low`` and ``high`` percentiles (never equal)."""
    img = np.asarray(img)
    step = max(1, int(np.ceil(np.sqrt(img.size / SAMPLE_PIXELS))))
    sample = img[..., ::step, ::step] if step > 1 else img
    lo, hi = np.percentile(sample.astype(np.float32, copy=False), [low, high])
    if hi - lo < 1e-6:
        hi = lo + max(float(sample.max()) - lo, 1e-6)
    return float(lo), float(hi)


def apply_range(img: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return ((np.asarray(img, dtype=np.float32) - lo) / (hi - lo)).astype(np.float32, copy=False)


def percentile_normalize(img: np.ndarray, low: float = 1.0, high: float = 99.8) -> np.ndarray:
    return apply_range(img, *percentile_range(img, low, high))
