"""The one sample type every reader yields."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Sample:
    image: np.ndarray  # (Y, X) raw intensities, float32 (colour already made grayscale, cellseg.channels)
    labels: np.ndarray  # (Y, X) instance labels, 0 = background
    dataset: str  # name of the dataset it belongs to
    name: str  # where it came from, e.g. "Fluo-N2DH-GOWT1/01/t021"
    ignore: np.ndarray | None = None  # (Y, X) bool: pixels whose class is unknown (sparse GT)
    quality: str = "gold"  # gold | silver | error (computer-generated)
    nuclear: np.ndarray | None = None  # (Y, X) nuclear channel where the set has one (folder layout: nuclei/)

    @property
    def complete(self) -> bool:
        return self.ignore is None or not self.ignore.any()
