"""Instance labels -> 3-class targets (0 background, 1 interior, 2 boundary).

interior = cell pixels, minus each cell's own edge pixels where it touches another cell (the seams);
boundary = those seam pixels plus a thin band of background around every cell.
:func:`cellseg.postprocess.classes_to_labels` inverts this.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

BACKGROUND, INTERIOR, BOUNDARY = 0, 1, 2
IGNORE = 255


def touching_edges(labels: np.ndarray) -> np.ndarray:
    """Pixels of a cell that have a pixel of a different cell among their 8 neighbours."""
    lab = labels.astype(np.int64, copy=False)
    big = int(lab.max()) + 1  # stands for background in the minimum (small: filters may use float)
    mx = ndi.maximum_filter(lab, size=3, mode="nearest")
    mn = ndi.minimum_filter(np.where(lab == 0, big, lab), size=3, mode="nearest")
    return (lab > 0) & ((mx != lab) | (mn != lab))


def labels_to_classes(labels: np.ndarray, band: int = 2) -> np.ndarray:
    """uint8 class map of the same shape as ``labels`` (2-D instance labels, 0 = background)."""
    if labels.ndim != 2:
        raise ValueError(f"labels must be 2-D, got shape {labels.shape}")
    fg = labels > 0
    classes = np.zeros(labels.shape, np.uint8)
    if band > 0:
        near = ndi.distance_transform_edt(~fg) <= band if fg.any() else np.zeros_like(fg)
        classes[near & ~fg] = BOUNDARY
    classes[fg] = INTERIOR
    classes[touching_edges(labels)] = BOUNDARY
    return classes
