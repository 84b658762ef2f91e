"""Augmentation with albumentations: geometry on image + instance labels + ignore mask together
(nearest-neighbour for the masks), then intensity changes on the image alone."""

from __future__ import annotations

import albumentations as A
import cv2


def train_transform(crop: int, scale: tuple[float, float] = (0.7, 1.4)) -> A.Compose:
    return A.Compose(
        [
            A.PadIfNeeded(crop, crop, border_mode=cv2.BORDER_REFLECT_101),
            A.RandomCrop(crop, crop),
            A.Affine(
                scale=scale,
                rotate=(-180, 180),
                shear=(-8, 8),
                p=0.75,
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=cv2.INTER_NEAREST,
                border_mode=cv2.BORDER_REFLECT_101,
            ),
            A.HorizontalFlip(),
            A.VerticalFlip(),
            A.RandomRotate90(),
            A.RandomBrightnessContrast(0.2, 0.3, p=0.7),
            A.GaussNoise(std_range=(0.0, 0.06), p=0.4),
            A.GaussianBlur(blur_limit=(3, 5), p=0.25),
        ]
    )


def dim_objects(image, labels, rng, p: float = 0.5, fraction: float = 0.3, factor=(0.15, 0.7)):
    """With probability ``p``, dim a random ``fraction`` of the objects towards the background level
    (contrast times ``factor``), so dim cells beside bright ones are seen in training (the inputs issue:
    dim nuclei next to saturated ones were missed). Background pixels are unchanged."""
    import numpy as np

    if rng.random() >= p:
        return image
    labels = np.asarray(labels)
    ids = np.unique(labels)
    ids = ids[ids > 0]
    picked = ids[rng.random(len(ids)) < fraction]
    if len(picked) == 0:
        return image
    background = labels == 0
    level = float(np.median(image[background])) if background.any() else float(image.min())
    scale = np.ones(int(labels.max()) + 1, np.float32)
    scale[picked] = rng.uniform(*factor, len(picked))
    return (level + (image - level) * scale[labels]).astype(np.float32)


def synthetic_nuclei(labels, rng, core=(0.3, 0.5), brightness=(0.4, 1.0), sigma=1.5, noise=0.05):
    """A stand-in nuclear channel for whole-cell labels (no set here has a real one): in each cell, the
    pixels deeper than ``1 - core`` of its deepest point (a nucleus-like core that follows the cell's
    shape), a random brightness per cell, blurred, with noise. It teaches the network what a nuclear
    channel is for: one bright core per cell, to split touching cells."""
    import numpy as np
    from scipy import ndimage as ndi
    from skimage.segmentation import find_boundaries

    labels = np.asarray(labels)
    out = np.zeros(labels.shape, np.float32)
    if labels.max() == 0:
        return out + rng.normal(0, noise, labels.shape).astype(np.float32)
    inside = (labels > 0) & ~find_boundaries(labels, mode="inner")
    depth = ndi.distance_transform_edt(inside)
    n = int(labels.max()) + 1
    deepest = np.zeros(n, np.float32)
    ids = np.unique(labels[labels > 0])
    deepest[ids] = ndi.maximum(depth, labels, ids)
    frac = np.zeros(n, np.float32)
    frac[ids] = rng.uniform(*core, len(ids))
    level = np.zeros(n, np.float32)
    level[ids] = rng.uniform(*brightness, len(ids))
    nucleus = (labels > 0) & (depth > (1 - frac[labels]) * deepest[labels])
    out[nucleus] = level[labels[nucleus]]
    out = ndi.gaussian_filter(out, sigma)
    return (out + rng.normal(0, noise, out.shape)).astype(np.float32)


def random_gamma(image, rng, p: float = 0.3, gamma=(0.6, 1.6)):
    """With probability ``p``, a gamma curve on the (percentile-normalized, clipped at 0) image."""
    import numpy as np

    if rng.random() >= p:
        return image
    return (np.clip(image, 0, None) ** rng.uniform(*gamma)).astype(np.float32)
