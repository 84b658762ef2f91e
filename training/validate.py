"""Validation: pooled CTC SEG (and DET, AP50) per held-out dataset, for a model or any segment function."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cellseg.metrics import evaluate_pair, pool


def pick(samples: list, max_frames: int | None) -> list:
    """At most max_frames samples, evenly spread (deterministic)."""
    if not max_frames or len(samples) <= max_frames:
        return samples
    idx = np.linspace(0, len(samples) - 1, max_frames).round().astype(int)
    return [samples[i] for i in idx]


def validate(segment, val_sets: dict, max_frames: int | None = None) -> dict:
    """``segment`` is a Segmenter or a function image -> labels. Returns {dataset: pooled scores}."""
    fn: Callable = segment.segment if hasattr(segment, "segment") else segment
    scores = {}
    for name, samples in val_sets.items():
        results = [evaluate_pair(s.labels, fn(s.image)) for s in pick(samples, max_frames)]
        scores[name] = {**pool(results), "frames": len(results)}
    return scores
