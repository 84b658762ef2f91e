"""Pack a training config's data into one small folder that travels to another machine (a lent GPU).

    python -m cellseg.training.pack CONFIG OUT_DIR

A lent GPU machine takes at most 64 MiB with the working tree, and the shared data is 246 MB, so a pack
stores only what training and checkpoint validation read, compactly:

- training samples as the crop stream uses them (``training.data.prepare``: ``normalized``, then
  ``diameter_factor``): percentile-normalized, and
  already shrunk to the config's object diameter where that makes them smaller (sets with large objects);
  sets with small objects are stored at their own scale and grown when loaded.
- the validation frames that checkpoint validation reads (``val_max_frames`` of each set, picked as
  ``training.validate.pick`` picks), percentile-normalized (a Segmenter's own normalization of a normalized
  image is then the identity up to rounding).

Images are 8-bit (normalized -0.25..1.75 onto 0..255) in WebP at quality 98 (OpenCV, on every machine
that trains): mean absolute error about 0.65 of 255 grey levels on the shared sets, far below the noise
the augmentation adds (up to 0.06 of the range, 15 levels), at half the size of lossless WebP. Labels are
16-bit PNG, ignore masks 1-bit PNG (both lossless). ``pack.json`` records what the pack was made for; a
config names the folder with ``packed: DIR`` and a run refuses a pack made for another diameter, colour
mode or channel count.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from cellseg.datasets import load_split
from cellseg.datasets.sample import Sample
from cellseg.errors import CellsegError
from cellseg.normalize import percentile_normalize

from .data import Prepared, diameter_factor, normalized, rescale, resolve_root, scaled
from .validate import pick

LOW, SPAN = -0.25, 2.0  # normalized intensities LOW..LOW+SPAN map onto 0..255
WEBP_QUALITY = 98


def _fingerprint(cfg) -> dict:
    return {"object_diameter": cfg.object_diameter, "rgb": cfg.rgb, "channels": int(cfg.model.get("in_channels", 1))}


def _encode_image(image: np.ndarray) -> list[np.ndarray]:
    import cv2

    planes = [image] if image.ndim == 2 else [image[..., c] for c in range(image.shape[-1])]
    out = []
    for p in planes:
        q = np.clip(np.round((p - LOW) / SPAN * 255), 0, 255).astype(np.uint8)
        out.append(cv2.imencode(".webp", q, [cv2.IMWRITE_WEBP_QUALITY, WEBP_QUALITY])[1])
    return out


def _decode_image(planes: list[np.ndarray]) -> np.ndarray:
    import cv2

    out = []
    for b in planes:
        q = cv2.imdecode(b, cv2.IMREAD_GRAYSCALE)
        out.append(q.astype(np.float32) * (SPAN / 255) + LOW)
    return out[0] if len(out) == 1 else np.dstack(out)


def _encode_mask(mask: np.ndarray) -> np.ndarray:
    import cv2

    if mask.max() > np.iinfo(np.uint16).max:
        raise CellsegError("a packed sample has more than 65,535 labels")
    dtype = np.uint8 if mask.dtype == bool else np.uint16
    return cv2.imencode(".png", mask.astype(dtype), [cv2.IMWRITE_PNG_COMPRESSION, 9])[1]


def _decode_mask(b: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.imdecode(b, cv2.IMREAD_UNCHANGED)


def pack(cfg, out: str | Path) -> dict:
    """Write ``out/<dataset>.npz`` for every dataset of ``cfg`` (``leave_out`` ones too: a pack serves
    every row of an experiment) and ``out/pack.json``; returns the record."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    root = resolve_root(cfg.data_root)
    fp = _fingerprint(cfg)
    record = {**fp, "val_max_frames": cfg.val_max_frames, "datasets": {}}
    for spec in cfg.all_specs():
        train, val = load_split(spec, root, cfg.rgb)
        arrays, scales = {}, []
        for i, s in enumerate(train):
            image, labels, ignore = normalized(s, fp["channels"])
            f = diameter_factor(labels, cfg.object_diameter)
            if f < 0.98:  # shrink now (smaller pack); growing waits for the loading machine
                image, labels, ignore = rescale(image, labels, ignore, f)
                f = 1.0
            scales.append(f)
            for c, b in enumerate(_encode_image(image)):
                arrays[f"train_image_{i}_{c}"] = b
            arrays[f"train_labels_{i}"] = _encode_mask(labels)
            arrays[f"train_ignore_{i}"] = _encode_mask(ignore)
        val = pick(val, cfg.val_max_frames)
        for i, s in enumerate(val):
            (arrays[f"val_image_{i}_0"],) = _encode_image(percentile_normalize(s.image))
            arrays[f"val_labels_{i}"] = _encode_mask(s.labels)
        tmp = out / f".{spec.name}.npz.tmp"
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, out / f"{spec.name}.npz")
        record["datasets"][spec.name] = {
            "train": len(train),
            "train_scale": [round(x, 4) for x in scales],
            "val_names": [s.name for s in val],
            "bytes": (out / f"{spec.name}.npz").stat().st_size,
        }
    (out / "pack.json").write_text(json.dumps(record, indent=1))
    return record


def load_packed(folder: str | Path, name: str, cfg) -> tuple[list[Prepared], list[Sample]]:
    """(prepared training samples, validation samples) of dataset ``name`` from a pack made for ``cfg``."""
    folder = Path(folder)
    meta_path = folder / "pack.json"
    if not meta_path.is_file():
        raise CellsegError(f"{folder}: not a data pack (no pack.json; make one with python -m cellseg.training.pack)")
    meta = json.loads(meta_path.read_text())
    want = _fingerprint(cfg)
    got = {k: meta.get(k) for k in want}
    if got != want:
        raise CellsegError(f"{folder}: packed for {got}, the config needs {want}")
    if name not in meta["datasets"]:
        raise CellsegError(f"{folder}: no dataset {name!r} in the pack")
    entry = meta["datasets"][name]
    with np.load(folder / f"{name}.npz") as z:
        train = []
        for i, f in enumerate(entry["train_scale"]):
            planes = [z[k] for k in sorted(k for k in z.files if k.startswith(f"train_image_{i}_"))]
            image = _decode_image(planes)
            labels = _decode_mask(z[f"train_labels_{i}"]).astype(np.int32)
            ignore = _decode_mask(z[f"train_ignore_{i}"]).astype(bool)
            train.append(Prepared(*scaled(image, labels, ignore, f)))
        val = [
            Sample(_decode_image([z[f"val_image_{i}_0"]]), _decode_mask(z[f"val_labels_{i}"]).astype(np.int32), name, v)
            for i, v in enumerate(entry["val_names"])
        ]
    return train, val


def main(argv=None) -> int:
    from .trainer import TrainConfig

    ap = argparse.ArgumentParser(prog="python -m cellseg.training.pack", description=__doc__.split("\n\n")[0])
    ap.add_argument("config")
    ap.add_argument("out")
    args = ap.parse_args(argv)
    record = pack(TrainConfig.from_yaml(args.config), args.out)
    total = sum(d["bytes"] for d in record["datasets"].values())
    for name, d in record["datasets"].items():
        print(f"{name}: {d['train']} training, {len(d['val_names'])} validation samples, {d['bytes'] / 1e6:.1f} MB")
    print(f"{args.out}: {total / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
