"""Validation: pooled CTC SEG (and DET, AP50) per held-out dataset, for a model or any segment function."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cellseg.metrics import evaluate_pair, pool
from cellseg.size import median_diameter


def pick(samples: list, max_frames: int | None) -> list:
    """At most max_frames samples, evenly spread (deterministic)."""
    if not max_frames or len(samples) <= max_frames:
        return samples
    idx = np.linspace(0, len(samples) - 1, max_frames).round().astype(int)
    return [samples[i] for i in idx]


def segment_at_label_size(segmenter, sample) -> np.ndarray:
    """``segmenter``'s labels for ``sample`` given its labels' median object diameter (as a user's
    ``--diameter``); the segmenter's options are restored after."""
    options = segmenter.options
    try:
        segmenter.options = options.replace(diameter=median_diameter(sample.labels) or 0.0)
        return np.asarray(segmenter.segment(sample.image))
    finally:
        segmenter.options = options


def validate(segment, val_sets: dict, max_frames: int | None = None, given_size: bool = False) -> dict:
    """``segment`` is a Segmenter or a function image -> labels. Returns {dataset: pooled scores}.

    ``given_size``: a Segmenter is given each frame's median object diameter from its labels
    (:func:`segment_at_label_size`), so the score measures the network, not the size estimate (training
    uses this to pick checkpoints before the size regression is fitted)."""
    fn: Callable = segment.segment if hasattr(segment, "segment") else segment
    scores = {}
    for name, samples in val_sets.items():
        results = []
        for s in pick(samples, max_frames):
            found = segment_at_label_size(segment, s) if given_size else fn(s.image)
            results.append(evaluate_pair(s.labels, found))
        scores[name] = {**pool(results), "frames": len(results)}
    return scores
