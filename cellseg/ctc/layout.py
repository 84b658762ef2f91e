"""Cell Tracking Challenge layout: raw frames in, ``<seq>_RES/maskNNN.tif`` + ``res_track.txt`` out.

Masks are uint16 with 3-digit frame numbers, 4 when a sequence has 1000 frames or more.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from ..errors import InputError
from ..io import write_labels


def mask_name(t: int, n_frames: int) -> str:
    return f"mask{t:0{4 if n_frames >= 1000 else 3}d}.tif"


def write_ctc_masks(folder: str | Path, labels: np.ndarray) -> list[Path]:
    """Write a 2-D label image or a (T, Y, X) label stack as CTC masks into ``folder``."""
    labels = np.asarray(labels)
    if labels.ndim == 2:
        labels = labels[None]
    if labels.ndim != 3:
        raise ValueError(f"CTC masks need 2-D or (T, Y, X) labels, got shape {labels.shape}")
    if labels.min() < 0 or labels.max() > np.iinfo(np.uint16).max:
        raise ValueError("CTC masks need labels between 0 and 65535")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [write_labels(folder / mask_name(t, len(labels)), frame) for t, frame in enumerate(labels)]


def numbered_files(folder: str | Path, prefix: str, suffix: str = r"\.tif") -> dict[int, Path]:
    """Files named ``<prefix>NNN<suffix>`` in ``folder``, by number (empty if the folder is missing)."""
    folder = Path(folder)
    found = {}
    if folder.is_dir():
        for f in folder.iterdir():
            m = re.fullmatch(re.escape(prefix) + r"(\d+)" + suffix, f.name)
            if m:
                found[int(m.group(1))] = f
    return found


def write_tracks(folder: str | Path, text: str) -> Path:
    return atomic_write(Path(folder) / "res_track.txt", lambda tmp: Path(tmp).write_text(text))


def sequence_frames(seq_dir: str | Path) -> list[Path]:
    """The raw frames ``tNNN.tif`` of a sequence, checked before anything is written:
    numbered 0..T-1 without gaps, all readable TIFF images of one 2-D size."""
    import tifffile

    seq_dir = Path(seq_dir)
    if not seq_dir.is_dir():
        raise InputError(seq_dir, "sequence folder not found")
    found = numbered_files(seq_dir, "t", r"\.tiff?")
    if not found:
        raise InputError(seq_dir, "no frames named tNNN.tif")
    missing = sorted(set(range(max(found) + 1)) - set(found))
    if missing:
        shown = ", ".join(f"t{i:03d}" for i in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise InputError(seq_dir, f"frame numbers have gaps: {shown} missing")
    frames = [found[i] for i in range(len(found))]
    shape = None
    for f in frames:
        try:
            with tifffile.TiffFile(f) as tif:
                s = tuple(n for n in tif.series[0].shape if n > 1)
        except Exception as e:
            raise InputError(f, f"not a readable TIFF image ({str(e).splitlines()[0] if str(e) else e!r})") from None
        if len(s) != 2:
            raise InputError(f, f"frame of shape {s}; CTC 2-D frames must be (Y, X)")
        if shape is None:
            shape = s
        elif s != shape:
            raise InputError(f, f"frame size {s[0]}x{s[1]} differs from the sequence's {shape[0]}x{shape[1]}")
    return frames
