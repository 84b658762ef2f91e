"""Class probabilities -> instance labels.

Instances are the 8-connected components of the interior class. Each is grown back into the
boundary pixels of the seams it shares with a neighbour (the pixels the targets took from it), small
objects are dropped, holes are filled, and labels come out sequential: uint16, or uint32 when an
image holds more than 65,535 objects (never a silent wrap).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import expand_labels

from .io import label_dtype
from .options import DEFAULTS
from .targets import BOUNDARY, INTERIOR


def to_classes(probs: np.ndarray, threshold: float = DEFAULTS.interior_threshold) -> np.ndarray:
    """uint8 class map from class probabilities (3, ...): the most probable class, except that with a
    ``threshold`` t a pixel is interior exactly when P(interior) exceeds both other classes by more than t
    (t < 0: more and larger cells; t > 0: fewer and smaller); the others take the likelier of the two."""
    if threshold == 0:
        return np.argmax(probs, axis=0).astype(np.uint8)
    other = np.maximum(probs[0], probs[BOUNDARY])
    classes = np.where(probs[BOUNDARY] > probs[0], np.uint8(BOUNDARY), np.uint8(0))
    classes[probs[INTERIOR] - other > threshold] = INTERIOR
    return classes


def classes_to_labels(
    classes: np.ndarray,
    min_size: int = DEFAULTS.min_size,
    seam: int = 1,
    max_size: int = DEFAULTS.max_size,
    holes: bool = DEFAULTS.fill_holes,
) -> np.ndarray:
    """Instance labels from a 2-D class map (0 background, 1 interior, 2 boundary): uint16, or uint32
    when there are more than 65,535 objects. Objects outside ``min_size``..``max_size`` pixels (0: no
    upper limit) are dropped; ``holes``: fill holes enclosed by one object."""
    labels = np.zeros(classes.shape, np.int32)
    n = ndi.label(classes == INTERIOR, structure=np.ones((3, 3), bool), output=labels)
    if n == 0:
        return np.zeros(classes.shape, np.uint16)
    if seam > 0:
        _grow_into_seams(labels, classes, seam)
    if holes:
        labels = fill_holes(labels, inplace=True)
    labels = remove_small(labels, min_size, inplace=True, max_size=max_size)
    return sequential(labels)


def label_sizes(labels: np.ndarray, rows: int = 1024) -> np.ndarray:
    """Pixel count of every id 0..max, a band of rows at a time (bincount's int64 copy stays small)."""
    top = int(labels.max()) if labels.size else 0
    sizes = np.zeros(top + 1, np.int64)
    for r in range(0, max(labels.shape[0], 1), rows):
        sizes += np.bincount(labels[r : r + rows].ravel(), minlength=top + 1)
    return sizes


def sequential(labels: np.ndarray) -> np.ndarray:
    """Ids renumbered 1..n in order, as uint16 (uint32 beyond 65,535 objects)."""
    present = label_sizes(labels) > 0
    present[0] = False
    n = int(present.sum())
    lut = np.zeros(len(present), label_dtype(n))
    lut[present] = np.arange(1, n + 1)
    return lut[labels]


def _grow_into_seams(labels: np.ndarray, classes: np.ndarray, seam: int, block: int = DEFAULTS.block) -> None:
    """Give boundary pixels on a seam between two cells to the nearest cell, in place.

    A boundary pixel is on a seam when two different cells lie within 2*seam of it. Every step looks
    at most 2*seam + 1 pixels away, so it runs block by block with that halo (bounded memory, same
    result as on the whole image).
    """
    reach = 2 * seam + 1
    halo = 2 * seam + 1
    big = np.iinfo(np.int32).max
    h, w = labels.shape
    updates = []
    for y0 in range(0, h, block):
        for x0 in range(0, w, block):
            ys = slice(max(y0 - halo, 0), min(y0 + block + halo, h))
            xs = slice(max(x0 - halo, 0), min(x0 + block + halo, w))
            lab, cls = labels[ys, xs], classes[ys, xs]
            grown = expand_labels(lab, distance=seam)
            mx = ndi.maximum_filter(lab, size=2 * reach - 1, mode="nearest")
            mn = ndi.minimum_filter(np.where(lab == 0, big, lab), size=2 * reach - 1, mode="nearest")
            add = (lab == 0) & (cls == BOUNDARY) & (mn != big) & (mx != mn) & (grown > 0)
            core = (
                slice(y0 - ys.start, min(y0 + block, h) - ys.start),
                slice(x0 - xs.start, min(x0 + block, w) - xs.start),
            )
            a = add[core]
            if a.any():
                updates.append(((slice(y0, y0 + a.shape[0]), slice(x0, x0 + a.shape[1])), a, grown[core][a]))
    for region, a, values in updates:
        labels[region][a] = values


def probabilities_to_labels(probs: np.ndarray, min_size: int = DEFAULTS.min_size, options=None) -> np.ndarray:
    """Instance labels from class probabilities shaped (3, Y, X); ``options`` (SegmentOptions) gives the
    threshold, sizes and hole filling instead."""
    if options is None:
        return classes_to_labels(to_classes(probs), min_size=min_size)
    o = options
    return classes_to_labels(to_classes(probs, o.interior_threshold), o.min_size, 1, o.max_size, o.fill_holes)


def size_filter(sizes: np.ndarray, min_size: int, max_size: int = 0) -> np.ndarray:
    """Which ids (index) to drop, given every id's pixel count: below ``min_size`` or above ``max_size``
    (0: no limit); never the background."""
    drop = sizes < min_size
    if max_size > 0:
        drop |= sizes > max_size
    drop[0] = False
    return drop


def remove_small(labels: np.ndarray, min_size: int, inplace: bool = False, max_size: int = 0) -> np.ndarray:
    """Objects below ``min_size`` (and above ``max_size`` > 0) pixels set to background."""
    if min_size <= 0 and max_size <= 0:
        return labels
    small = size_filter(label_sizes(labels), min_size, max_size)
    if small.any():
        if inplace:
            labels[small[labels]] = 0
        else:
            labels = np.where(small[labels], 0, labels)
    return labels


def fill_holes(labels: np.ndarray, inplace: bool = False) -> np.ndarray:
    """Fill background holes fully enclosed by one object."""
    bg = labels == 0
    holes, n = ndi.label(bg)
    if n <= 1:
        return labels
    # holes touching the image border are not enclosed
    border = np.unique(np.concatenate([holes[0], holes[-1], holes[:, 0], holes[:, -1]]))
    out = labels if inplace else labels.copy()
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
