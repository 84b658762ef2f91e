"""A dataset as a typed spec, and the readers registry keyed by layout.

A :class:`DatasetSpec` says where a dataset lives (``path`` under the data root), how it is laid out
(``layout``: a key of :data:`READERS`), what it shows (``modality``), under which terms (``licence``)
and how it splits into training and validation samples. Training configs list their datasets as
these specs; :func:`load_split` reads one through the reader its layout names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

from cellseg.errors import CellsegError

from .ctc import read_sequence
from .folders import read_folder
from .sample import Sample


@dataclass(frozen=True)
class Part:
    """One CTC sequence of a split: its labels' source (gold, silver, error, auto) and frames."""

    seq: str
    source: str = "auto"
    frames: tuple[int, ...] | None = None  # None: every labelled frame

    @classmethod
    def from_dict(cls, d: dict) -> Part:
        frames = d.get("frames")
        if isinstance(frames, str):  # "0-49"
            a, b = frames.split("-")
            frames = tuple(range(int(a), int(b) + 1))
        elif frames is not None:
            frames = tuple(int(x) for x in frames)
        return cls(str(d["seq"]), d.get("source", "auto"), frames)


OBJECTS = ("nuclei", "cells", "bacteria")


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    layout: str  # "ctc" or "folder" (keys of READERS)
    path: str  # relative to the data root
    modality: str = ""
    licence: str = ""
    train: tuple[Part, ...] = ()  # ctc: the sequences (and frames) to train on
    val: tuple[Part, ...] = ()  # ctc: the held-out sequences (and frames)
    val_every: int = 5  # folder: every val_every-th image in name order is held out...
    val_offset: int = 4  # ...starting at this index
    # background pixels this close to the image border teach nothing: for sets whose annotators skipped
    # cells cut by the edge (BBBC030's outlines skip edge slivers), so they are not taught as background
    ignore_border: int = 0
    # what the labels outline: "nuclei", "cells" (whole cells: a two-channel model is also shown a
    # nuclear channel for them, synthetic where the set has none) or "bacteria" (no nucleus)
    objects: str = "nuclei"
    # "data": ``path`` is under the config's data root (../shared/data); "cache": under the local data
    # cache that ``cellseg datasets build`` fills from a recipe (datasets/recipes.py)
    root: str = "data"
    extra: dict = field(default_factory=dict, compare=False)

    @classmethod
    def from_dict(cls, d: dict) -> DatasetSpec:
        """From a training config entry (``kind`` is accepted for ``layout``)."""
        d = dict(d)
        if "kind" in d:
            d.setdefault("layout", d.pop("kind"))
        d.setdefault("layout", "ctc")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise CellsegError(f"dataset {d.get('name', '?')}: unknown keys {unknown}")
        for key in ("name", "path"):
            if key not in d:
                raise CellsegError(f"dataset entry {d}: missing {key!r}")
        if d["layout"] not in READERS:
            raise CellsegError(f"dataset {d['name']}: unknown layout {d['layout']!r} ({', '.join(READERS)})")
        for key in ("train", "val"):
            d[key] = tuple(Part.from_dict(p) for p in d.get(key) or [])
        if d.get("root", "data") not in ("data", "cache"):
            raise CellsegError(f"dataset {d['name']}: root must be data or cache, not {d['root']!r}")
        if d.get("objects", "nuclei") not in OBJECTS:
            raise CellsegError(f"dataset {d['name']}: objects must be one of {', '.join(OBJECTS)}")
        return cls(**d)


def _split_ctc(spec: DatasetSpec, root: Path, rgb: str = "luminance") -> tuple[list[Sample], list[Sample]]:
    def read(parts):
        out = []
        for part in parts:
            frames = list(part.frames) if part.frames is not None else None
            out += read_sequence(root / spec.path, part.seq, part.source, frames, dataset=spec.name)
        return out

    return read(spec.train), read(spec.val)


def ignore_border(sample: Sample, width: int) -> Sample:
    """Mark unlabelled pixels within ``width`` of the image border as unknown (ignored in training)."""
    import numpy as np

    band = np.zeros(sample.labels.shape, bool)
    band[:width], band[-width:], band[:, :width], band[:, -width:] = True, True, True, True
    band &= sample.labels == 0
    sample.ignore = band if sample.ignore is None else (sample.ignore | band)
    return sample


def _split_folder(spec: DatasetSpec, root: Path, rgb: str = "luminance") -> tuple[list[Sample], list[Sample]]:
    samples = read_folder(root / spec.path, dataset=spec.name, rgb=rgb)
    if spec.ignore_border > 0:
        samples = [ignore_border(s, spec.ignore_border) for s in samples]
    val = [s for i, s in enumerate(samples) if i % spec.val_every == spec.val_offset]
    train = [s for i, s in enumerate(samples) if i % spec.val_every != spec.val_offset]
    return train, val


#: layout -> reader returning (training samples, validation samples)
READERS: dict[str, Callable[..., tuple[list[Sample], list[Sample]]]] = {
    "ctc": _split_ctc,
    "folder": _split_folder,
}


def load_split(spec: DatasetSpec | dict, root: str | Path, rgb: str = "luminance") -> tuple[list[Sample], list[Sample]]:
    """(training samples, validation samples) of one dataset; ``rgb``: how colour images become
    grayscale for the model at hand (:mod:`cellseg.channels`)."""
    if isinstance(spec, dict):
        spec = DatasetSpec.from_dict(spec)
    if spec.root == "cache":
        from .recipes import cache_root

        root = cache_root()
        if not (root / spec.path).is_dir():
            raise CellsegError(
                f"dataset {spec.name}: {root / spec.path} not found; build it with `cellseg datasets build {spec.path}`"
            )
    return READERS[spec.layout](spec, Path(root), rgb)
