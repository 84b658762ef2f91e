"""One image file -> one label file: the unit of work of a batch, in this process or on a Dask worker.

:func:`segment_file` reads the channels the options pick, segments every frame and writes the labels
atomically; any problem with the file is an :class:`cellseg.errors.InputError` naming it, so a batch
goes on with the next file. :func:`segment_files_on_dask` spreads such calls over the workers of a
``dask.distributed`` cluster, each worker loading the model once; a large image (:func:`is_large`) is
segmented from here with its blocks spread over the same workers (:func:`cellseg.large.segment_large`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import CellsegError, InputError
from .options import SegmentOptions
from .outputs import OutputOptions, Summary


@dataclass
class FileResult:
    """What segmenting one file gave: objects, the diameter the model was set to (None: not rescaled),
    the objects' median equivalent diameter, seconds, and the extra files written."""

    cells: int
    diameter: float | None
    median_diameter: float | None = None
    seconds: float = 0.0
    extras: list = field(default_factory=list)
    note: str = ""


def segment_file(
    seg, path: Path, target: Path, progress=None, outputs: OutputOptions | None = None, client=None
) -> FileResult:
    """Segment ``path`` into ``target`` (uint16/uint32 TIFF), and write the extra files ``outputs`` asks
    for beside it. A large image (:func:`is_large`) takes the bounded-memory path, its blocks on the
    ``client``'s Dask workers when one is given."""
    from .io import read_all_channels, select_channels, write_labels
    from .outputs import median_diameter, write_extras
    from .postprocess import label_sizes

    start = time.perf_counter()
    o, outputs = seg.options, outputs or OutputOptions()
    if is_large(path, o):
        from .large import labels_sizes, segment_large  # never decoded whole: bounded memory at any size

        cells, diameter = segment_large(seg, path, target, progress, client=client)
        note = "measurements, overlays and ROIs are not written for images above --large" if outputs.any() else ""
        median = median_diameter(labels_sizes(target))
        return FileResult(cells, diameter, median, time.perf_counter() - start, note=note)
    fyxc, color = read_all_channels(path, o.max_pixels, o.planes)
    frames, nuclear = select_channels(fyxc, color, path, o.chan, o.chan2, seg.rgb)
    labels = seg.segment(frames, progress=progress, name=path.name, nuclear=nuclear)
    try:
        write_labels(target, labels[0] if len(frames) == 1 else labels)
        extras = write_extras(outputs, target, labels, fyxc) if outputs.any() else []
    except OSError as e:
        raise InputError(path, f"cannot write beside {target} ({e.strerror or e})") from None
    cells = int(labels.max()) if labels.size else 0
    median = median_diameter(np.concatenate([label_sizes(f)[1:] for f in labels.reshape(-1, *labels.shape[-2:])]))
    return FileResult(cells, seg.last_diameter, median, time.perf_counter() - start, extras)


@dataclass
class BatchPlan:
    """A batch checked before any work: the files to segment with their targets, the inputs that
    already failed (unreadable, oversized, name clashes), and the run's summary.csv rows."""

    files: list[Path]
    targets: dict[Path, Path]
    failed: list[InputError]
    summary: Summary
    done: int = 0

    def record(self, path: Path, result: FileResult | InputError) -> None:
        """Note one file's result in the summary (written after every file: a cancelled run keeps it)."""
        if isinstance(result, InputError):
            self.failed.append(result)
            self.summary.add(path, error=result.problem)
        else:
            self.done += 1
            r = result
            self.summary.add(path, self.targets[path], r.cells, r.median_diameter, r.diameter, r.seconds)
        self.summary.write()


def plan_batch(
    inputs, out: Path, suffix: str = "", outputs: OutputOptions | None = None, max_pixels: int | None = None
) -> BatchPlan:
    """Files and folders to segment into ``out`` (``<stem><suffix>.tif`` and the extras ``outputs`` asks
    for). Raises CellsegError (nothing written) when an output would replace an input or ``out`` cannot
    take files; files that cannot be used (by their headers) are failed up front."""
    from .io import check_size, find_images, read_header
    from .options import DEFAULTS
    from .safety import check_no_clobber, check_writable_folder

    out, outputs = Path(out), outputs or OutputOptions()
    files, failed = find_images(inputs)
    targets = {f: out / f"{f.stem}{suffix}.tif" for f in files}
    summary = Summary(out)
    extras = [summary.path] + [x for t in targets.values() for x in outputs.paths(t).values()]
    check_no_clobber(targets, others=extras)  # before anything is written
    check_writable_folder(out)
    owner: dict[Path, Path] = {}
    for f in list(files):  # headers only: unreadable and oversized files fail before the model loads
        try:
            if targets[f] in owner:
                raise InputError(f, f"output name {targets[f].name} already used by {owner[targets[f]]}")
            check_size(f, read_header(f), DEFAULTS.max_pixels if max_pixels is None else max_pixels)
            owner[targets[f]] = f
        except InputError as e:
            failed.append(e)
            files.remove(f)
    for e in failed:
        summary.add(e.path, error=e.problem)
    return BatchPlan(files, targets, failed, summary)


def run_batch(seg, plan: BatchPlan, outputs: OutputOptions | None = None, progress=None, report=None) -> BatchPlan:
    """Segment the plan's files one after another in this process; "images" progress events, and
    ``report(path, FileResult | InputError)`` after each. A cancel (the progress callback raising
    Cancelled) stops between tiles; the summary keeps the files done."""
    from .progress import ProgressEvent

    n = len(plan.files)
    for i, path in enumerate(plan.files):
        if progress is not None and n > 1:
            progress(ProgressEvent("images", i, n))
        try:
            result = guarded(lambda path=path: segment_file(seg, path, plan.targets[path], progress, outputs), path)
        except InputError as e:
            result = e
        plan.record(path, result)
        if report is not None:
            report(path, result)
    if progress is not None and n > 1:
        progress(ProgressEvent("images", n, n))
    if not plan.files:
        plan.summary.write()
    return plan


def is_large(path: Path, options: SegmentOptions) -> bool:
    """Whether ``path`` goes the large-image way (:mod:`cellseg.large`): a 2-D TIFF of more than
    ``options.large`` pixels, segmented without picking channels."""
    from .io import read_header

    if path.suffix.lower() not in (".tif", ".tiff") or options.chan or options.chan2:
        return False
    header = read_header(path)
    return header.axes in ("YX", "YXS") and header.shape[0] * header.shape[1] > options.large


def guarded(fn, path: Path):
    """Run ``fn()``; an unexpected exception becomes one line naming the file (one bad file never stops
    a batch), while a bad model, a cancel or Ctrl-C still stops it."""
    try:
        return fn()
    except (InputError, KeyboardInterrupt, CellsegError):
        raise
    except Exception as e:
        msg = str(e).splitlines()[0] if str(e) else ""
        raise InputError(path, f"failed ({type(e).__name__}: {msg})") from None


_WORKER_MODELS: dict = {}  # on a worker process: (model, device, precision) -> Segmenter


def worker_segmenter(opts: SegmentOptions):
    """This worker's Segmenter for ``opts``, the model loaded once per worker process."""
    from .inference import Segmenter

    key = (opts.model, opts.device, opts.precision)
    if key not in _WORKER_MODELS:
        try:  # the worker's threads are its share of the machine
            import torch
            from distributed import get_worker

            torch.set_num_threads(max(1, get_worker().state.nthreads))
        except (ImportError, ValueError, AttributeError):
            pass
        _WORKER_MODELS[key] = Segmenter(options=opts)
    seg = _WORKER_MODELS[key]
    seg.options = opts
    return seg


def _on_worker(options: dict, path: str, target: str, outputs: OutputOptions) -> FileResult:
    seg = worker_segmenter(SegmentOptions(**options))
    return guarded(lambda: segment_file(seg, Path(path), Path(target), outputs=outputs), Path(path))


def dask_client(address: str):
    """A client of the scheduler at ``address`` (``tcp://host:8786``), or of a new local cluster for
    ``local`` / ``local:N`` (N worker processes of one thread each; default: one per core)."""
    import os

    from distributed import Client, LocalCluster

    if address == "local" or address.startswith("local:"):
        n = int(address.split(":", 1)[1]) if ":" in address else (os.cpu_count() or 1)
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
        return Client(cluster)
    try:
        return Client(address, timeout="20s")
    except OSError as e:
        raise CellsegError(f"--dask {address}: cannot reach the scheduler ({e})") from None


def segment_files_on_dask(client, jobs: dict, options: SegmentOptions, report, outputs: OutputOptions | None = None):
    """Segment ``jobs`` ({input path: output path}) on the cluster's workers. ``report(path, result)``
    is called as each file finishes, with its FileResult or its InputError. Ctrl-C cancels what has
    not run."""
    from distributed import as_completed

    outputs = outputs or OutputOptions()
    futures = {
        client.submit(_on_worker, options.to_dict(), str(p), str(t), outputs, pure=False): p for p, t in jobs.items()
    }
    try:
        for fut in as_completed(futures):
            path = futures[fut]
            try:
                report(path, fut.result())
            except InputError as e:
                report(path, e)
    except KeyboardInterrupt:
        client.cancel(list(futures))
        raise
