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


def validate(segment, val_sets: dict, max_frames: int | None = None, given_size: bool = False) -> dict:
    """``segment`` is a Segmenter or a function image -> labels. Returns {dataset: pooled scores}.

    ``given_size``: a Segmenter is given each frame's median object diameter from its labels (as a user's
    ``--diameter``), so the score measures the network, not the size estimate (training uses this to
    pick checkpoints before the size regression is fitted)."""
    fn: Callable = segment.segment if hasattr(segment, "segment") else segment
    options = getattr(segment, "options", None)  # given sizes are this call's only: restored after
    scores = {}
    try:
        for name, samples in val_sets.items():
            results = []
            for s in pick(samples, max_frames):
                if given_size:
                    segment.options = options.replace(diameter=median_diameter(s.labels) or 0.0)
                results.append(evaluate_pair(s.labels, fn(s.image)))
            scores[name] = {**pool(results), "frames": len(results)}
    finally:
        if given_size:
            segment.options = options
    return scores
