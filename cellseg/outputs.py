"""What a run writes beside the label TIFFs: outline overlays (PNG), per-object measurements (CSV),
ImageJ/Fiji ROIs (zip) and the run's ``summary.csv``. Every file is written whole or not at all.

>>> table = measurements(labels, image)     # labels (Y, X) or (T, Y, X); image (T, Y, X, C) as read
>>> write_csv("cells.csv", table)
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_write

#: regionprops_table properties of the measurements CSV (intensities are added per channel)
SHAPE_PROPERTIES = ("label", "area", "centroid", "bbox", "equivalent_diameter_area", "eccentricity", "solidity")
_RENAME = {
    "centroid-0": "centroid_y",
    "centroid-1": "centroid_x",
    "bbox-0": "bbox_min_y",
    "bbox-1": "bbox_min_x",
    "bbox-2": "bbox_max_y",
    "bbox-3": "bbox_max_x",
    "equivalent_diameter_area": "equivalent_diameter",
}
OUTLINE_RGB = (255, 230, 0)  # yellow: visible on grey fluorescence and on H&E purple
SUMMARY = "summary.csv"
SUMMARY_COLUMNS = ("image", "labels", "cells", "median_diameter_px", "diameter_used_px", "seconds", "error")


@dataclass(frozen=True)
class OutputOptions:
    """Files written beside each ``<stem>.tif``: an outline overlay, a measurements table, ImageJ ROIs."""

    png: bool = False  # <stem>_outlines.png (a stack: <stem>_outlines_tNNNN.png per frame)
    csv: bool = False  # <stem>_cells.csv
    rois: bool = False  # <stem>_rois.zip

    def paths(self, target: Path) -> dict[str, Path]:
        stem = target.with_suffix("")
        return {
            "png": stem.with_name(stem.name + "_outlines.png"),
            "csv": stem.with_name(stem.name + "_cells.csv"),
            "rois": stem.with_name(stem.name + "_rois.zip"),
        }

    def any(self) -> bool:
        return self.png or self.csv or self.rois


def _frames(labels: np.ndarray) -> np.ndarray:
    return labels[None] if labels.ndim == 2 else labels


def measurements(labels: np.ndarray, image: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-object measurements (skimage.measure.regionprops_table): label, area, centroid, bounding box,
    equivalent diameter, eccentricity, solidity, and with ``image`` ((T, Y, X, C), (T, Y, X) or (Y, X)
    like the labels) mean and max intensity per channel. A stack gets a ``frame`` column first."""
    from skimage.measure import regionprops_table

    labels = _frames(np.asarray(labels))
    if image is not None:
        image = np.asarray(image)
        if image.shape[:3] != labels.shape:  # one frame: (Y, X) or (Y, X, C)
            image = image[None]
        image = image.reshape(*labels.shape, -1)  # (T, Y, X, C)
    columns: dict[str, list] = {}
    for t in range(labels.shape[0]):
        props = SHAPE_PROPERTIES + (("intensity_mean", "intensity_max") if image is not None else ())
        table = regionprops_table(
            labels[t], intensity_image=None if image is None else image[t], properties=props, cache=False
        )
        if labels.shape[0] > 1:
            columns.setdefault("frame", []).append(np.full(len(table["label"]), t))
        for key, values in table.items():
            name = _RENAME.get(key, key)
            if key.startswith("intensity_"):  # intensity_mean-0 (several channels) or intensity_mean (one)
                kind, _, k = key.partition("-")
                name = f"{kind.split('_')[1]}_intensity_ch{int(k or 0) + 1}"
            columns.setdefault(name, []).append(np.asarray(values))
    if not columns:  # no frames
        return {}
    return {k: np.concatenate(v) for k, v in columns.items()}


def write_csv(path: str | Path, columns: dict[str, np.ndarray]) -> Path:
    """A CSV with one row per object (header only when there are none), atomically."""
    names = list(columns)
    rows = zip(*(columns[n].tolist() for n in names)) if names else iter(())

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(names)
            for row in rows:
                w.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])

    return atomic_write(path, write)


def outline_overlay(image: np.ndarray, labels: np.ndarray, rgb: tuple[int, int, int] = OUTLINE_RGB) -> np.ndarray:
    """uint8 RGB (Y, X, 3): the image (grey, 1-99.8 percentile contrast; colour images as they are)
    with every object's outline drawn in ``rgb``."""
    from skimage.segmentation import find_boundaries

    image = np.asarray(image, np.float32)
    lo, hi = np.percentile(image, (1, 99.8))
    scaled = np.clip((image - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
    out = np.repeat(scaled[..., None], 3, axis=-1) if scaled.ndim == 2 else scaled[..., :3].copy()
    out[find_boundaries(labels, mode="inner")] = rgb
    return out


def write_png(path: str | Path, rgb: np.ndarray) -> Path:
    import imageio.v3 as iio

    return atomic_write(path, lambda tmp: iio.imwrite(tmp, rgb, extension=".png"), suffix=".png")


def outline_rois(labels: np.ndarray) -> list:
    """One ImageJ polygon ROI per object (its outer contour, sub-pixel), named by its label; in a stack
    each ROI records its frame (t_position, 1-based)."""
    from roifile import ImagejRoi
    from scipy import ndimage as ndi
    from skimage.measure import find_contours

    frames = _frames(np.asarray(labels))
    rois = []
    for t, frame in enumerate(frames):
        for label, box in enumerate(ndi.find_objects(frame), start=1):
            if box is None:
                continue
            mask = np.pad(frame[box] == label, 1)
            contours = find_contours(mask.astype(np.uint8), 0.5)
            if not contours:
                continue
            yx = max(contours, key=len) - 1 + [box[0].start, box[1].start]
            roi = ImagejRoi.frompoints(yx[:, ::-1])  # ImageJ points are (x, y)
            roi.name = f"{label:05d}" if frames.shape[0] == 1 else f"t{t:04d}-{label:05d}"
            if frames.shape[0] > 1:
                roi.t_position = t + 1
            rois.append(roi)
    return rois


def write_rois(path: str | Path, labels: np.ndarray) -> Path:
    """An ImageJ/Fiji ROI set (zip of .roi files, opened by Fiji's ROI manager), atomically."""
    from roifile import roiwrite

    rois = outline_rois(labels)
    return atomic_write(path, lambda tmp: roiwrite(tmp, rois, mode="w"), suffix=".zip")


def median_diameter(sizes: np.ndarray) -> float | None:
    """Median equivalent diameter (pixels) of objects of these pixel counts; None without objects."""
    sizes = np.asarray(sizes)
    sizes = sizes[sizes > 0]
    return float(np.median(np.sqrt(4 * sizes / np.pi))) if sizes.size else None


def write_extras(outputs: OutputOptions, target: Path, labels: np.ndarray, image: np.ndarray) -> list[Path]:
    """The files ``outputs`` asks for beside ``target``, from the labels and the image as read (T, Y, X, C)."""
    paths, written = outputs.paths(target), []
    frames = _frames(labels)
    if outputs.csv:
        written.append(write_csv(paths["csv"], measurements(frames, image)))
    if outputs.rois:
        written.append(write_rois(paths["rois"], frames))
    if outputs.png:
        for t in range(frames.shape[0]):
            img = image[t]
            img = img[..., 0] if img.shape[-1] not in (3, 4) else img
            png = paths["png"]
            if frames.shape[0] > 1:
                png = png.with_name(png.stem + f"_t{t:04d}.png")
            written.append(write_png(png, outline_overlay(img, frames[t])))
    return written


class Summary:
    """The rows of ``summary.csv``: one per input (image, labels file, cells, median diameter, diameter
    used, seconds, error), written atomically whenever asked (after every file, so a cancelled run keeps
    what it did)."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / SUMMARY
        self.rows: list[dict] = []

    def add(self, image, labels=None, cells=None, median=None, diameter=None, seconds=None, error="") -> None:
        def num(v, fmt):
            return "" if v is None else format(v, fmt)

        self.rows.append(
            {
                "image": str(image),
                "labels": "" if labels is None else str(labels),
                "cells": "" if cells is None else str(cells),
                "median_diameter_px": num(median, ".2f"),
                "diameter_used_px": num(diameter, ".2f"),
                "seconds": num(seconds, ".2f"),
                "error": error,
            }
        )

    def write(self) -> Path:
        def write(tmp: str) -> None:
            with open(tmp, "w", newline="") as f:
                w = csv.DictWriter(f, SUMMARY_COLUMNS)
                w.writeheader()
                w.writerows(self.rows)

        return atomic_write(self.path, write)
