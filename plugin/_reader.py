"""napari reader: a cellseg results folder's ``summary.csv`` opens every segmented image with its labels
(and the labels' per-cell measurements as layer features, where ``--save-csv`` wrote them)."""

from __future__ import annotations

import csv
from pathlib import Path


def get_reader(path):
    if isinstance(path, list) or Path(path).name != "summary.csv":
        return None
    return read_results


def read_results(path) -> list[tuple]:
    from cellseg.io import read_all_channels, read_labels

    layers = []
    folder = Path(path).parent
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("labels")]
    for row in rows:
        image, labels = Path(row["image"]), Path(row["labels"])
        labels = labels if labels.is_absolute() or labels.exists() else folder / labels.name
        name = image.stem
        if image.is_file():
            fyxc, color = read_all_channels(image)
            data = fyxc[0] if fyxc.shape[0] == 1 else fyxc
            if color == "rgb" and data.shape[-1] in (3, 4):
                layers.append((data[..., :3], {"name": name, "rgb": True}, "image"))
            elif data.shape[-1] == 1:
                layers.append((data[..., 0], {"name": name}, "image"))
            else:
                layers.append((data, {"name": name, "channel_axis": data.ndim - 1}, "image"))
        if labels.is_file():
            meta = {"name": f"{name}_labels"}
            table = labels.with_name(labels.stem + "_cells.csv")
            if table.is_file():
                with open(table, newline="") as f:
                    cells = list(csv.DictReader(f))
                if cells and "frame" not in cells[0]:
                    meta["features"] = {"index": [int(c["label"]) for c in cells]} | {
                        k: [float(c[k]) for c in cells] for k in cells[0]
                    }
            layers.append((read_labels(labels), meta, "labels"))
    return layers
