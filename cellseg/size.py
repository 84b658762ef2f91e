"""Object size: the median object diameter of a label image, and a cheap estimate of it for an image.

A model records the object diameter it was trained at (``object_diameter`` in its JSON; training
rescales every sample so its median object diameter is near it). At inference an image is rescaled
by ``model diameter / image diameter`` before the network and its class probabilities are resized
back, so cells of any size reach the network at the size it knows. The image diameter is given
(``--diameter``) or estimated by :func:`estimate_diameter`: a size pass of the network itself on a
downsampled central crop, at up to three scales, measuring the median diameter of what it finds.
"""

from __future__ import annotations

import math

import numpy as np

#: the scales tried by the size pass, in order, until one finds enough objects
PASS_SCALES = (1.0, 0.5, 2.0, 0.25, 4.0)
#: the size pass looks at most at a crop this large (pixels a side, after scaling)
PASS_CROP = 512
MIN_OBJECTS = 3


def median_diameter(labels: np.ndarray) -> float | None:
    """Median equivalent diameter (sqrt(4 area / pi)) of the objects; None when there are none."""
    from .postprocess import label_sizes

    sizes = label_sizes(np.asarray(labels))[1:]
    sizes = sizes[sizes > 0]
    if len(sizes) == 0:
        return None
    return float(math.sqrt(4 * float(np.median(sizes)) / math.pi))


def central_region(shape: tuple[int, int], side: int) -> tuple[slice, slice]:
    """(y, x) slices of the central ``side`` x ``side`` window of a frame (the whole frame if smaller)."""
    h, w = shape[-2:]
    y0, x0 = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return slice(y0, y0 + side), slice(x0, x0 + side)


def central_crop(image: np.ndarray, side: int) -> np.ndarray:
    return image[(..., *central_region(image.shape, side))]


def estimate_diameter(frame: np.ndarray, labels_at_scale, model_diameter: float) -> float | None:
    """Median object diameter of ``frame`` in its own pixels, or None if no pass finds objects.

    ``labels_at_scale(crop, scale)`` segments a crop of the frame rescaled by ``scale`` and returns
    labels at the crop's original size. Each pass looks at a central crop of at most ``PASS_CROP``
    pixels after scaling, so the cost is bounded whatever the image size. A pass is trusted when it
    finds at least ``MIN_OBJECTS`` objects whose median size, at the network's scale, is within a
    factor 2 of the model's diameter; otherwise the next scale is tried. When no pass is within that
    factor, the answer is None (the frame is run as it is): an outlier (fragments of noise taken for
    tiny cells) would otherwise upscale the whole frame many times over.
    """
    best = None
    for scale in PASS_SCALES:
        crop = central_crop(frame, max(32, int(PASS_CROP / scale)))
        if min(crop.shape[-2:]) * scale < 16:
            continue
        labels = labels_at_scale(crop, scale)
        n = int(len(np.unique(labels)) - 1)
        d = median_diameter(labels)
        if d is None or n < MIN_OBJECTS:
            continue
        seen = d * scale  # the diameter the network saw
        off = abs(math.log(seen / model_diameter))
        if off < math.log(2):
            best = d
            break
    return best
