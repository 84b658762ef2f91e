"""Image/label folder pairs: ``images/<stem>.<ext>`` with ``labels/<stem>.<ext>``, and optionally a
nuclear channel ``nuclei/<stem>.<ext>`` (for whole-cell sets imaged with a nuclear stain)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cellseg.errors import InputError
from cellseg.io import IMAGE_SUFFIXES, read_image, read_labels

from .sample import Sample


def paired_files(root: str | Path) -> list[tuple[Path, Path]]:
    root = Path(root)
    img_dir, lab_dir = root / "images", root / "labels"
    for d in (img_dir, lab_dir):
        if not d.is_dir():
            raise InputError(d, "folder not found (expected images/ and labels/ side by side)")
    labels = {f.stem: f for f in lab_dir.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES}
    pairs = [
        (f, labels[f.stem])
        for f in sorted(img_dir.iterdir())
        if f.suffix.lower() in IMAGE_SUFFIXES and f.stem in labels
    ]
    if not pairs:
        raise InputError(root, "no image/label pairs with matching names")
    return pairs


def read_folder(
    root: str | Path, stems: list[str] | None = None, dataset: str | None = None, rgb: str = "luminance"
) -> list[Sample]:
    root = Path(root)
    name = dataset or root.name
    samples = []
    for img_path, lab_path in paired_files(root):
        if stems is not None and img_path.stem not in stems:
            continue
        image = read_image(img_path, rgb=rgb)[0]
        labels = read_labels(lab_path, strict=True)
        if labels.shape != image.shape:
            raise InputError(lab_path, f"label shape {labels.shape} differs from image shape {image.shape}")
        nuclear = None
        nuclei = [root / "nuclei" / f"{img_path.stem}{s}" for s in IMAGE_SUFFIXES]
        if any(f.is_file() for f in nuclei):
            path = next(f for f in nuclei if f.is_file())
            nuclear = read_image(path)[0]
            if nuclear.shape != image.shape:
                raise InputError(path, f"nuclear channel {nuclear.shape} differs from image shape {image.shape}")
        samples.append(Sample(image, labels.astype(np.int32), name, f"{name}/{img_path.stem}", nuclear=nuclear))
    return samples
