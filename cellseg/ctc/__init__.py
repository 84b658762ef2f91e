"""Cell Tracking Challenge: the folder layout, segmenting (and tracking) a sequence, the challenge's
measures, and submission packages.

- :mod:`.layout`: ``<seq>/tNNN.tif`` in, ``<seq>_RES/maskNNN.tif`` + ``res_track.txt`` out
- :mod:`.segment`: ``cellseg ctc segment`` (resumable, atomic, optional tracking)
- :mod:`.track`: linking instance labels over time into CTC tracks
- :mod:`.evaluate`: ``cellseg ctc evaluate`` (our SEG/DET beside py-ctcmetrics' SEG/DET/TRA)
- :mod:`.package`: ``cellseg ctc package`` (the ``SW/`` submission tree)
"""

from .evaluate import evaluate_sequence, validate_result
from .layout import (
    mask_name,
    numbered_files,
    sequence_frames,
    write_ctc_masks,
    write_tracks,
)
from .package import package
from .segment import segment_sequence
from .track import Track, format_tracks, track_frames

__all__ = [
    "mask_name",
    "numbered_files",
    "sequence_frames",
    "write_ctc_masks",
    "write_tracks",
    "segment_sequence",
    "Track",
    "track_frames",
    "format_tracks",
    "evaluate_sequence",
    "validate_result",
    "package",
]
