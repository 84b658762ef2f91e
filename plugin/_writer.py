"""napari writer: a Labels layer (2-D or T, Y, X) -> a folder of CTC ``maskNNN.tif`` files.

Each file is written atomically. An existing mask that is a symbolic link or has other hard links
(it may be someone's input) is never replaced: the writer refuses before writing anything.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cellseg.ctc import mask_name, write_ctc_masks
from cellseg.errors import CellsegError
from cellseg.safety import check_not_linked


def write_ctc(path: str, data, attributes: dict) -> list[str]:
    folder = Path(path)
    if folder.suffix:  # "01_RES.tif" -> folder "01_RES"
        folder = folder.with_suffix("")
    data = np.asarray(data)
    if folder.exists() and not folder.is_dir():
        raise CellsegError(f"{folder}: is a file; CTC masks go into a folder")
    n = 1 if data.ndim == 2 else len(data)
    for t in range(n):
        check_not_linked(folder / mask_name(t, n))
    return [str(p) for p in write_ctc_masks(folder, data)]
