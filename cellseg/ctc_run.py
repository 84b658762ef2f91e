"""``cellseg ctc segment``: segment every raw frame of a CTC sequence, optionally track.

Resumable: frames whose mask exists are skipped (unless ``overwrite``); each mask and the track file
are written atomically, so an interrupted run never leaves a half-written file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .ctc import mask_name, sequence_frames, write_tracks
from .io import read_image, read_labels, write_labels
from .tracking import format_tracks, track_frames


def segment_sequence(dataset_dir: str | Path, seq: str, segmenter=None, track: bool = False,
                     overwrite: bool = False, progress: Callable[[str, int, int], None] | None = None) -> Path:
    """Write ``<dataset_dir>/<seq>_RES``; returns that folder. ``segmenter`` is built lazily."""
    dataset_dir = Path(dataset_dir)
    frames = sequence_frames(dataset_dir / seq)
    res = dataset_dir / f"{seq}_RES"
    res.mkdir(exist_ok=True)
    n = len(frames)
    todo = [t for t in range(n) if overwrite or not (res / mask_name(t, n)).is_file()]
    if todo and segmenter is None:
        from .inference import Segmenter

        segmenter = Segmenter()
    for i, t in enumerate(todo):
        labels = segmenter.segment(read_image(frames[t])[0])
        write_labels(res / mask_name(t, n), labels)
        if progress:
            progress("segment", i + 1, len(todo))
    if track:
        masks = [read_labels(res / mask_name(t, n)) for t in range(n)]
        relabelled, tracks = track_frames(masks)
        for t in range(n):
            write_labels(res / mask_name(t, n), relabelled[t])
            if progress:
                progress("track", t + 1, n)
        write_tracks(res, format_tracks(tracks))
    return res
