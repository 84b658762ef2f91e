"""The classical baseline the model must beat: percentile normalize, Gaussian smoothing, Otsu
threshold, distance-transform watershed."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.filters import gaussian, threshold_otsu
from skimage.morphology import remove_small_objects
from skimage.segmentation import watershed

from .normalize import percentile_normalize


def otsu_watershed(image: np.ndarray, sigma: float = 1.5, min_distance: int = 7, min_size: int = 15) -> np.ndarray:
    img = gaussian(percentile_normalize(image), sigma)
    mask = img > threshold_otsu(img)
    mask = remove_small_objects(ndi.binary_fill_holes(mask), max_size=min_size)
    dist = ndi.distance_transform_edt(mask)
    peaks = peak_local_max(dist, min_distance=min_distance, labels=ndi.label(mask)[0], exclude_border=False)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-dist, markers, mask=mask).astype(np.uint16)
