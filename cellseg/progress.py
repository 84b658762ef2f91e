"""Progress of long jobs as plain events, and cancellation through the same channel.

The core (:class:`cellseg.Segmenter`, the CTC runner, the CLI's batch loop) reports progress by calling
``progress(ProgressEvent(...))``; a callback that raises :class:`cellseg.errors.Cancelled` stops the job
at that point. Front ends only render the events: tqdm bars in the CLI, napari progress bars in the GUI.
:func:`iterate` turns such a job into a generator of events (what a napari ``thread_worker`` forwards),
as stardist's napari plugin does.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TypeVar

from .errors import Cancelled

T = TypeVar("T")


@dataclass(frozen=True)
class ProgressEvent:
    stage: str  # what is counted: "tiles" (tile batches of one image), "images", "segment" or "track" (frames)
    done: int
    total: int
    item: str = ""  # the file, layer or sequence being worked on


Progress = Callable[[ProgressEvent], None]


def iterate(job: Callable[[Progress], T], cancel: threading.Event) -> Generator[ProgressEvent, None, T | None]:
    """Run ``job(progress)`` in a helper thread and yield its events; return its result, or None when
    ``cancel`` was set (the job's next progress call raises :class:`Cancelled`)."""
    events: queue.Queue = queue.Queue()
    result: dict = {}

    def on_progress(event: ProgressEvent) -> None:
        if cancel.is_set():
            raise Cancelled()
        events.put(event)

    def run() -> None:
        try:
            result["value"] = job(on_progress)
        except Cancelled:
            result["cancelled"] = True
        except BaseException as e:  # re-raised in the consumer's thread below
            result["error"] = e

    thread = threading.Thread(target=run, daemon=True, name="cellseg-job")
    thread.start()
    try:
        while thread.is_alive() or not events.empty():
            with contextlib.suppress(queue.Empty):
                yield events.get(timeout=0.05)
    finally:  # the consumer stopped iterating (closed the generator): stop the job too
        if thread.is_alive():
            cancel.set()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")
