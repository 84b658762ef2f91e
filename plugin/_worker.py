"""The one way both docks run a long cellseg job: a napari worker thread with a progress bar and Cancel.

The job is ``job(report)`` from :func:`cellseg.progress.iterate` (it stops at the widget's cancel event);
while it runs the widget's ``busy`` buttons are off and its Cancel button on; errors become one
notification line, never a traceback; ``on_done(result)`` runs on the main thread (``None``: cancelled).
"""

from __future__ import annotations

from cellseg.progress import iterate


def launch(
    widget, job, on_done, desc: str, busy: list, stage: str | None = None, describe: str | None = None, after=None
):
    """Start ``job`` for ``widget`` (it has ``status``, ``cancel_button``, ``_cancel`` and ``worker``).

    ``stage``: only events of that stage move the bar (None: every event); ``describe``: events of that
    stage also put their text on the bar and the status line; ``after()`` runs when the worker ends,
    after the buttons are restored."""
    from napari.qt.threading import create_worker
    from napari.utils import progress

    widget._cancel.clear()
    bar = progress(total=0, desc=desc)
    worker = create_worker(iterate, job, widget._cancel, _start_thread=False, _ignore_errors=True)

    def on_step(event):
        if stage is not None and event.stage != stage:
            return
        if bar.total != event.total:
            bar.total = event.total
        bar.n = event.done
        if describe is not None and event.stage == describe:
            bar.set_description(f"{desc}: {event.item}")
            widget.status.value = f"step {event.done}: {event.item}"
        bar.refresh()

    def on_error(e):
        from napari.utils.notifications import show_error

        widget.status.value = "error (see notification)"
        show_error(f"cellseg: {e}")

    def on_finished():
        bar.close()
        for button in busy:
            button.enabled = True
        widget.cancel_button.enabled = False
        widget.worker = None
        if after is not None:
            after()

    worker.yielded.connect(on_step)
    worker.returned.connect(on_done)
    worker.errored.connect(on_error)
    worker.finished.connect(on_finished)
    for button in busy:
        button.enabled = False
    widget.cancel_button.enabled = True
    widget.worker = worker
    worker.start()
    return worker
