"""Cells the user did not label: found by the base model, so that sparse labels need not teach them as background.

A user who labels every cell gives complete labels (what correcting the segmentation widget's output gives).
A user who labels only some cells leaves the others as 0, which training reads as background: the model
then learns to miss them. Here the base model segments each training image (at the labels' median
diameter); its objects that no label covers are the user's unlabelled cells. :func:`check` counts them
(for a warning), and :func:`ignore_unlabelled` marks them, grown by a margin, as "unknown" pixels that
the loss skips (as sparse CTC gold frames are handled).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage as ndi

from cellseg.size import median_diameter

#: a base-model object is "unlabelled" when less than this fraction of its pixels lies on a user label
COVERED = 0.1
#: labels look sparse when at least this fraction of the base model's objects is unlabelled (and at least
#: ``MIN_UNLABELLED`` of them). The base model's false detections count too, so the bar is high: on complete
#: labels (4 training frames of each of the 9 shared sets, `python benchmarks/sparse_warning.py`) it
#: flags 1 of 36 frames (E. coli, where the shipped model finds 9 objects and 8 are false); 0.25 and 3
#: flagged 8. Half-labelled Usiigaci frames show 62-64% unlabelled.
SPARSE_SHARE = 0.5
MIN_UNLABELLED = 5
#: unlabelled objects are grown by this fraction of the median diameter (the base model's outlines are
#: not exact, and the boundary class around them is unknown too)
MARGIN = 0.15


@dataclass
class Unlabelled:
    name: str
    mask: np.ndarray  # (Y, X) bool: pixels of base-model objects that no label covers
    count: int  # such objects
    total: int  # all base-model objects

    @property
    def sparse(self) -> bool:
        return self.count >= MIN_UNLABELLED and self.count >= SPARSE_SHARE * max(self.total, 1)


def find(segmenter, sample) -> Unlabelled:
    """The base model's objects in ``sample`` that its labels do not cover."""
    from .validate import segment_at_label_size

    found = segment_at_label_size(segmenter, sample)
    total = int(found.max())
    if total == 0:
        return Unlabelled(sample.name, np.zeros(found.shape, bool), 0, 0)
    size = np.bincount(found.ravel(), minlength=total + 1)
    covered = np.bincount(found[sample.labels > 0].ravel(), minlength=total + 1)
    free = (covered < COVERED * size) & (size > 0)
    free[0] = False
    return Unlabelled(sample.name, free[found], int(free.sum()), total)


def check(segmenter, samples: list) -> list[Unlabelled]:
    return [find(segmenter, s) for s in samples]


def ignore_unlabelled(sample, unlabelled: Unlabelled):
    """``sample`` with its unlabelled cells (grown by the margin, never over a label) marked unknown."""
    radius = max(1, round(MARGIN * (median_diameter(sample.labels) or 10)))
    grown = ndi.binary_dilation(unlabelled.mask, iterations=radius) & (sample.labels == 0)
    ignore = grown if sample.ignore is None else (sample.ignore | grown)
    return replace(sample, ignore=ignore)
