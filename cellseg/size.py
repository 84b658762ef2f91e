"""Object size: the median object diameter of a label image, and a cheap estimate of it for an image.

A model records the object diameter it was trained at (``object_diameter`` in its JSON; training
rescales every sample so its median object diameter is near it). At inference an image is rescaled
by ``model diameter / image diameter`` before the network and its class probabilities are resized
back, so cells of any size reach the network at the size it knows (the model diameter there is its
``segment_diameter`` where it records one: the size it segments best at, which can be larger than the size
it was trained at). The image diameter is given
(``--diameter``) or estimated. A model that carries a size regression (``size_model`` in its JSON,
fitted by ``python -m cellseg.training.size_fit``) predicts the log diameter linearly from its own
encoder's pooled features, as Cellpose's SizeModel does from its style vector: :func:`size_features`
and :class:`SizeRegression`; then, as Cellpose's second stage does, a central crop is segmented at that
estimate and the median diameter of what it finds is the answer when the ``size_refine`` option asks
for it (:func:`refine_diameter`; off by default). Older models fall back to :func:`estimate_diameter`, a
size pass of the network on a central crop at up to five scales, measuring the median diameter of what it
finds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: the scales tried by the size pass, in order, until one finds enough objects
PASS_SCALES = (1.0, 0.5, 2.0, 0.25, 4.0)
#: the size pass looks at most at a crop this large (pixels a side, after scaling)
PASS_CROP = 512
MIN_OBJECTS = 3
#: the size regression's feature passes: these scales, each on a central crop of FEATURE_CROP pixels
#: a side after scaling (so the cost is bounded whatever the image size)
FEATURE_SCALES = (1.0, 0.5, 0.25)
FEATURE_CROP = 384
#: the refinement pass looks at a central crop this large (pixels a side, after scaling)
REFINE_CROP = 768
#: a refined diameter is trusted within this factor of the estimate it refines
REFINE_FACTOR = 3.0


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


def refine_diameter(frame_shape, estimate: float, scale: float, segment_region) -> float:
    """Cellpose's second size stage: segment a central crop at the estimate and measure what it finds.

    ``scale`` is the rescaling the estimate gives (the model's segmenting diameter / ``estimate``);
    ``segment_region(region, scale)`` returns the labels of that region of the frame (in its own pixels)
    segmented at ``scale``. The crop is at most ``REFINE_CROP`` pixels a side after scaling, so the cost is
    one tile batch or so whatever the image size; objects cut by a crop edge that is not the frame's edge
    are left out of the median (they would look smaller than they are). The median diameter of the rest is
    the answer when there are at least ``MIN_OBJECTS`` of them and it is within ``REFINE_FACTOR`` of the
    estimate; otherwise the estimate stands."""
    h, w = frame_shape[-2:]
    region = central_region((h, w), max(32, int(REFINE_CROP / scale)))
    labels = np.asarray(segment_region(region, scale))
    inner = [
        labels[0] if region[0].start > 0 else None,
        labels[-1] if region[0].stop < h else None,
        labels[:, 0] if region[1].start > 0 else None,
        labels[:, -1] if region[1].stop < w else None,
    ]
    cut = np.unique(np.concatenate([e for e in inner if e is not None] or [np.zeros(0, labels.dtype)]))
    if len(cut):
        labels = np.where(np.isin(labels, cut), 0, labels)
    n = int(len(np.unique(labels)) - 1)
    d = median_diameter(labels)
    if d is None or n < MIN_OBJECTS or abs(math.log(d / estimate)) > math.log(REFINE_FACTOR):
        return estimate
    return d


def feature_region(shape: tuple[int, int]) -> tuple[slice, slice]:
    """The central region of a frame that :func:`size_features` looks at."""
    return central_region(shape, int(FEATURE_CROP / min(FEATURE_SCALES)))


def size_features(normalized: np.ndarray, encoder, device="cpu") -> np.ndarray:
    """Size descriptor of a frame: at each of ``FEATURE_SCALES``, the mean and standard deviation over
    a central crop of every encoder stage's channels (the stem's input excluded), concatenated.

    ``normalized`` is the network's (C, y, x) input (a central crop of at least
    :func:`feature_region` is enough); ``encoder`` the model's encoder (a list of stage maps out)."""
    import torch
    import torch.nn.functional as F

    from .inference import resize_by

    parts = []
    with torch.inference_mode():
        for scale in FEATURE_SCALES:
            crop = central_crop(normalized, max(32, int(FEATURE_CROP / scale)))
            x = torch.from_numpy(np.ascontiguousarray(crop, dtype=np.float32))[None].to(device)
            x = resize_by(x, scale, floor=32)
            pad = [(-n) % 32 for n in x.shape[-2:]]
            if any(pad):
                x = F.pad(x, (0, pad[1], 0, pad[0]), mode="replicate")
            for f in list(encoder(x))[1:]:
                f = f.float().flatten(2)[0]
                parts += [f.mean(1), f.std(1, correction=0)]  # a 1x1 map has std 0
    return torch.cat(parts).cpu().numpy().astype(np.float64)


@dataclass
class SizeRegression:
    """log(diameter) = intercept + coef . (features - mean) / std: a ridge regression on
    :func:`size_features`, stored in the model's JSON (``size_model``)."""

    mean: np.ndarray
    std: np.ndarray
    coef: np.ndarray
    intercept: float
    fit: dict | None = None  # how it was fitted (sets, samples, errors), for the record

    def diameter(self, features: np.ndarray) -> float:
        z = (np.asarray(features, np.float64) - self.mean) / self.std
        return float(np.exp(self.intercept + z @ self.coef))

    @classmethod
    def train(cls, features: np.ndarray, diameters: np.ndarray, alpha: float, weights=None, fit=None):
        """Ridge fit of log diameters on standardized features (``weights``: per-sample weights)."""
        x = np.asarray(features, np.float64)
        y = np.log(np.asarray(diameters, np.float64))
        w = np.ones(len(y)) if weights is None else np.asarray(weights, np.float64)
        w = w / w.sum()
        mean = w @ x
        std = np.sqrt(w @ (x - mean) ** 2) + 1e-6
        z = (x - mean) / std
        y0 = float(w @ y)
        zw = z * w[:, None]
        coef = np.linalg.solve(z.T @ zw + alpha / len(y) * np.eye(z.shape[1]), zw.T @ (y - y0))
        return cls(mean, std, coef, y0, fit)

    def to_dict(self) -> dict:
        def r(a):
            return [float(f"{v:.6g}") for v in a]

        return {
            "features": {"scales": list(FEATURE_SCALES), "crop": FEATURE_CROP, "pool": "mean,std"},
            "mean": r(self.mean),
            "std": r(self.std),
            "coef": r(self.coef),
            "intercept": float(self.intercept),
            "fit": self.fit or {},
        }

    @classmethod
    def from_dict(cls, d: dict) -> SizeRegression:
        f = d.get("features", {})
        if list(f.get("scales", [])) != list(FEATURE_SCALES) or f.get("crop") != FEATURE_CROP:
            raise ValueError(f"size_model features {f} differ from this version's ({FEATURE_SCALES}, {FEATURE_CROP})")
        mean, std, coef = (np.asarray(d[k], np.float64) for k in ("mean", "std", "coef"))
        if not (mean.shape == std.shape == coef.shape and mean.ndim == 1) or not np.all(std > 0):
            raise ValueError("size_model mean, std and coef must be equal-length vectors (std > 0)")
        return cls(mean, std, coef, float(d["intercept"]), d.get("fit"))
