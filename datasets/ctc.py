"""Cell Tracking Challenge sequences: ``<Dataset>/<seq>/tNNN.tif`` with labels from
``<seq>_GT/SEG/man_segNNN.tif`` (gold), ``<seq>_ST/SEG/man_segNNN.tif`` (silver) or
``<seq>_ERR_SEG/maskNNN.tif`` (computer-generated masks shipped with some training data).

Sparse gold frames label only some cells. The TRA markers (``<seq>_GT/TRA/man_trackNNN.tif``) show
every cell, so the pixels around markers that no SEG label covers are marked ``ignore``: training
must not teach "background" on cells nobody annotated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from cellseg.ctc import numbered_files
from cellseg.errors import InputError
from cellseg.io import read_image, read_labels

from .sample import Sample

SOURCES = {  # name -> (folder pattern, file prefix before the frame number, quality)
    "gold": ("{seq}_GT/SEG", "man_seg", "gold"),
    "silver": ("{seq}_ST/SEG", "man_seg", "silver"),
    "error": ("{seq}_ERR_SEG", "mask", "error"),
}


def label_files(dataset_dir: Path, seq: str, source: str) -> dict[int, Path]:
    folder, prefix, _ = SOURCES[source]
    return dict(sorted(numbered_files(Path(dataset_dir) / folder.format(seq=seq), prefix).items()))


def available_sources(dataset_dir: Path, seq: str) -> list[str]:
    return [s for s in SOURCES if label_files(dataset_dir, seq, s)]


def sparse_ignore(labels: np.ndarray, markers: np.ndarray) -> np.ndarray | None:
    """Ignore mask around TRA markers that no SEG object covers; None if the frame is complete."""
    marker_ids = np.unique(markers[markers > 0])
    if len(marker_ids) == 0:
        return None
    covered = np.unique(markers[(labels > 0) & (markers > 0)])
    unmatched = np.setdiff1d(marker_ids, covered)
    if len(unmatched) == 0:
        return None
    sizes = np.bincount(labels.ravel())[1:]
    sizes = sizes[sizes > 0]
    radius = np.sqrt(np.median(sizes) / np.pi) if len(sizes) else 10.0
    margin = int(max(4, round(0.5 * radius)))
    region = np.isin(markers, unmatched)
    ignore = ndi.distance_transform_edt(~region) <= margin
    return ignore & (labels == 0)


def read_sequence(
    dataset_dir: str | Path, seq: str, source: str = "auto", frames: list[int] | None = None, dataset: str | None = None
) -> list[Sample]:
    """Samples of one sequence with labels from ``source`` (gold, silver, error or auto)."""
    dataset_dir = Path(dataset_dir)
    name = dataset or dataset_dir.name
    seq_dir = dataset_dir / seq
    if not seq_dir.is_dir():
        raise InputError(seq_dir, "sequence folder not found")
    if source == "auto":
        found = available_sources(dataset_dir, seq)
        if not found:
            raise InputError(
                dataset_dir, f"no labels for sequence {seq} (looked for {seq}_GT/SEG, {seq}_ST/SEG, {seq}_ERR_SEG)"
            )
        source = found[0]
    if source not in SOURCES:
        raise ValueError(f"source must be one of {list(SOURCES)} or auto, not {source!r}")
    quality = SOURCES[source][2]
    files = label_files(dataset_dir, seq, source)
    if not files:
        raise InputError(dataset_dir / SOURCES[source][0].format(seq=seq), f"no {source} labels for sequence {seq}")
    raws = numbered_files(seq_dir, "t")
    tra_dir = dataset_dir / f"{seq}_GT" / "TRA"
    samples = []
    for idx, lab_path in files.items():
        if frames is not None and idx not in frames:
            continue
        if idx not in raws:
            continue  # labels for a frame that is not shipped
        image = read_image(raws[idx])[0]
        labels = read_labels(lab_path, strict=True)
        if labels.ndim != 2 or labels.shape != image.shape:
            raise InputError(lab_path, f"label shape {labels.shape} differs from image shape {image.shape}")
        ignore = None
        if source == "gold":
            tra = tra_dir / f"man_track{lab_path.stem[len('man_seg') :]}.tif"
            if tra.is_file():
                ignore = sparse_ignore(labels, read_labels(tra))
        samples.append(Sample(image, labels.astype(np.int32), name, f"{name}/{seq}/t{idx:03d}", ignore, quality))
    return samples
