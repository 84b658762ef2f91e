"""Class probabilities -> instance labels.

Instances are the 8-connected components of the interior class. Each is grown back into the
boundary pixels of the seams it shares with a neighbour (the pixels the targets took from it), small
objects are dropped, holes are filled, and labels come out sequential uint16.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import label as cc_label
from skimage.segmentation import expand_labels, relabel_sequential

from .targets import BOUNDARY, INTERIOR


def classes_to_labels(classes: np.ndarray, min_size: int = 15, seam: int = 1) -> np.ndarray:
    """Instance labels (uint16) from a 2-D class map (0 background, 1 interior, 2 boundary)."""
    interior = classes == INTERIOR
    labels = cc_label(interior, connectivity=2).astype(np.int32)
    if labels.max() == 0:
        return np.zeros(classes.shape, np.uint16)
    if seam > 0:
        grown = expand_labels(labels, distance=seam)
        # a boundary pixel belongs to a seam when two different cells lie within 2*seam of it
        reach = 2 * seam + 1
        big = int(labels.max()) + 1
        mx = ndi.maximum_filter(labels, size=2 * reach - 1, mode="nearest")
        mn = ndi.minimum_filter(np.where(labels == 0, big, labels), size=2 * reach - 1, mode="nearest")
        in_seam = (mn != big) & (mx != mn)
        add = (labels == 0) & (classes == BOUNDARY) & in_seam & (grown > 0)
        labels[add] = grown[add]
    labels = fill_holes(labels)
    labels = remove_small(labels, min_size)
    return relabel_sequential(labels)[0].astype(np.uint16)


def probabilities_to_labels(probs: np.ndarray, min_size: int = 15) -> np.ndarray:
    """Instance labels from class probabilities shaped (3, Y, X)."""
    return classes_to_labels(np.argmax(probs, axis=0).astype(np.uint8), min_size=min_size)


def remove_small(labels: np.ndarray, min_size: int) -> np.ndarray:
    if min_size <= 0:
        return labels
    sizes = np.bincount(labels.ravel())
    small = sizes < min_size
    small[0] = False
    if small.any():
        labels = np.where(small[labels], 0, labels)
    return labels


def fill_holes(labels: np.ndarray) -> np.ndarray:
    """Fill background holes fully enclosed by one object."""
    bg = labels == 0
    holes, n = ndi.label(bg)
    if n <= 1:
        return labels
    # holes touching the image border are not enclosed
    border = np.unique(np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]]))
    out = labels.copy()
    for sl_idx, sl in enumerate(ndi.find_objects(holes), start=1):
        if sl is None or sl_idx in border:
            continue
        ys = slice(max(sl[0].start - 1, 0), sl[0].stop + 1)
        xs = slice(max(sl[1].start - 1, 0), sl[1].stop + 1)
        hole = holes[ys, xs] == sl_idx
        ring = ndi.binary_dilation(hole) & ~hole
        around = np.unique(labels[ys, xs][ring])
        if len(around) == 1 and around[0] != 0:
            out[ys, xs][hole] = around[0]
    return out
