"""Percentile normalization: maps the low/high percentiles of an image to 0/1, so that 8-bit,
16-bit and float data look alike to the network."""

from __future__ import annotations

import numpy as np


def percentile_normalize(img: np.ndarray, low: float = 1.0, high: float = 99.8) -> np.ndarray:
    img = np.asarray(img, dtype=np.float32)
    lo, hi = np.percentile(img, [low, high])
    if hi - lo < 1e-6:
        hi = lo + max(float(img.max()) - lo, 1e-6)
    return ((img - lo) / (hi - lo)).astype(np.float32)
