"""Run a Segmenter as a generator of progress events, so a napari thread_worker can forward them.

The segmenter reports per tile batch through a callback; the callback runs in a helper thread and
puts events on a queue that the generator yields. Setting ``cancel`` makes the next callback raise
:class:`Cancelled`, which stops the job within one tile batch.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Generator

import numpy as np

from cellseg.errors import Cancelled


def segment_with_progress(make_segmenter: Callable, frames: np.ndarray, cancel: threading.Event,
                          ) -> Generator[tuple[int, int], None, np.ndarray | None]:
    """Yield (done, total) per tile batch; return labels, or None when cancelled."""
    events: queue.Queue = queue.Queue()
    result: dict = {}

    def on_progress(done: int, total: int) -> None:
        if cancel.is_set():
            raise Cancelled()
        events.put((done, total))

    def job() -> None:
        try:
            seg = make_segmenter()
            events.put((0, seg.count_steps(frames)))
            result["labels"] = seg.segment(frames, progress=on_progress)
        except Cancelled:
            result["cancelled"] = True
        except BaseException as e:  # reported in the GUI by the worker's errored signal
            result["error"] = e

    thread = threading.Thread(target=job, daemon=True, name="cellseg-segment")
    thread.start()
    while thread.is_alive() or not events.empty():
        try:
            yield events.get(timeout=0.05)
        except queue.Empty:
            pass
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("labels")
