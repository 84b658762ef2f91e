"""napari writer: a Labels layer (2-D or T, Y, X) -> a folder of CTC ``maskNNN.tif`` files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cellseg.ctc import write_ctc_masks


def write_ctc(path: str, data, attributes: dict) -> list[str]:
    folder = Path(path)
    if folder.suffix:  # "01_RES.tif" -> folder "01_RES"
        folder = folder.with_suffix("")
    return [str(p) for p in write_ctc_masks(folder, np.asarray(data))]
