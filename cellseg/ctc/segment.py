"""``cellseg ctc segment``: segment every raw frame of a CTC sequence, optionally track.

Resumable: frames whose mask exists are skipped (unless ``overwrite``); each mask and the track file
are written atomically, so an interrupted run never leaves a half-written file. An overwriting run
without tracking removes a stale ``res_track.txt`` (it would describe other masks). A mask path that
is, or links to, a raw frame stops the run before anything is written.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..io import read_channels, read_labels, write_labels
from ..options import DEFAULTS, SegmentOptions
from ..progress import Progress, ProgressEvent
from ..safety import check_no_clobber
from .layout import mask_name, sequence_frames, write_tracks
from .track import format_tracks, track_frames


def segment_sequence(
    dataset_dir: str | Path,
    seq: str,
    options: SegmentOptions | None = None,
    track: bool = False,
    overwrite: bool = False,
    progress: Progress | None = None,
    segmenter=None,
) -> Path:
    """Write ``<dataset_dir>/<seq>_RES``; returns that folder.

    The segmenter is built from ``options`` (or given ready as ``segmenter``) only when a frame needs
    segmenting. ``progress`` gets "segment" and "track" events (frames) and may raise ``Cancelled``.
    """
    options = options or DEFAULTS
    dataset_dir = Path(dataset_dir)
    frames = sequence_frames(dataset_dir / seq)
    res = dataset_dir / f"{seq}_RES"
    n = len(frames)
    check_no_clobber(
        {f: res / mask_name(t, n) for t, f in enumerate(frames)},
        fix=f"{res} must not be (or link to) the raw-frame folder",
    )
    res.mkdir(exist_ok=True)
    todo = [t for t in range(n) if overwrite or not (res / mask_name(t, n)).is_file()]
    if overwrite and not track:
        (res / "res_track.txt").unlink(missing_ok=True)  # stale: it described the masks being replaced
    if todo and segmenter is None:
        from ..inference import Segmenter

        segmenter = Segmenter(options=options)
    item = f"{dataset_dir.name}/{seq}"
    for i, t in enumerate(todo):
        signal, nuclear = read_channels(frames[t], options.max_pixels, options.chan, options.chan2, rgb=segmenter.rgb)
        labels = segmenter.segment(signal[0], nuclear=None if nuclear is None else nuclear[0])
        if labels.max() > 65535:
            raise InputError(frames[t], f"{int(labels.max())} objects; CTC masks are uint16 (at most 65,535)")
        write_labels(res / mask_name(t, n), labels)
        if progress:
            progress(ProgressEvent("segment", i + 1, len(todo), item))
    if track:
        masks = [read_labels(res / mask_name(t, n)) for t in range(n)]
        relabelled, tracks = track_frames(masks)
        for t in range(n):
            write_labels(res / mask_name(t, n), relabelled[t])
            if progress:
                progress(ProgressEvent("track", t + 1, n, item))
        write_tracks(res, format_tracks(tracks))
    return res
