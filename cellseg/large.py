"""Images of any size in bounded memory: read lazily, segmented block by block, stitched, written tile by tile.

:func:`segment_large` takes a 2-D TIFF (grey, or RGB read as the model reads colour) that it never decodes
whole: tifffile's zarr store reads the tiles or strips a region needs (an uncompressed file is memory-mapped
a region at a time). Then, with every intermediate in per-block files in a temporary folder:

1. class maps block by block (the network sees each block with ``block_margin`` pixels of context, as in
   :meth:`cellseg.inference.Segmenter.classes`), and the interior's 8-connected components within each block;
2. components that touch across a block edge are joined (a graph's connected components over the pairs
   of touching pixels on every seam), so a cell on a seam gets one id: the same components as labelling
   the whole interior at once;
3. each block, with a halo of its neighbours, is grown into its seams and has its holes filled as
   :func:`cellseg.postprocess.classes_to_labels` does; object sizes are summed over blocks;
4. small objects are dropped, ids made sequential (uint16, uint32 beyond 65,535), and the labels written
   as a tiled, zlib-compressed BigTIFF a band of tiles at a time, to a temporary name renamed into place.

Peak memory is a few blocks, whatever the image size (``benchmarks/large_image.py`` measures it). A
"blocks" progress event follows every block of each pass.

Given a ``dask.distributed`` client, step 1 (the network: nearly all of the time) runs on the cluster's
workers, one task per block, each worker loading the model once (:func:`cellseg.batch.worker_segmenter`);
they read the image and write their blocks where this process does, so workers on other machines need the
input and output folders at the same paths (a shared file system). Steps 2 to 4 run here. The labels are
the same as in one process: blocks number their components from 1 and get their offsets in block order.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from .errors import InputError
from .progress import Progress
from .targets import INTERIOR

TILE = 256  # output TIFF tile side
SAMPLE = 4_000_000  # pixels of the strided sample that gives the percentiles


class LazyImage:
    """A 2-D (Y, X) or (Y, X, S) TIFF image read a region at a time."""

    def __init__(self, path: str | Path):
        import tifffile

        self.path = Path(path)
        try:
            with tifffile.TiffFile(self.path) as tif:
                series = tif.series[0]
                self.shape, self.dtype, self.axes = tuple(series.shape), np.dtype(series.dtype), series.axes
                page = series.keyframe
                self._contiguous = len(series.pages) == 1 and page.is_contiguous and not page.is_tiled
                self._offset = page.dataoffsets[0] if self._contiguous else None
        except Exception as e:  # tifffile raises many types for broken files
            raise InputError(self.path, f"not a readable TIFF ({str(e).splitlines()[0] if str(e) else e!r})") from None
        if self.axes not in ("YX", "YXS"):
            raise InputError(self.path, f"the large-image path reads 2-D images (YX or YXS), not {self.axes}")
        self._zarr = None

    @property
    def size(self) -> tuple[int, int]:
        return self.shape[0], self.shape[1]

    def read(self, ys: slice, xs: slice) -> np.ndarray:
        """The pixels of a region, copied (nothing of the file stays mapped)."""
        if self._contiguous:
            mm = np.memmap(self.path, self.dtype, "r", self._offset, self.shape)
            out = np.array(mm[ys, xs])
            del mm
            return out
        if self._zarr is None:
            import tifffile
            import zarr

            self._zarr = zarr.open(tifffile.imread(self.path, aszarr=True), mode="r")
        return np.asarray(self._zarr[ys, xs])

    def sample(self, pixels: int = SAMPLE, band: int = 1024) -> np.ndarray:
        """An evenly strided subsample of about ``pixels`` pixels, read a band of rows at a time."""
        h, w = self.size
        step = max(1, int(np.ceil(np.sqrt(h * w / pixels))))
        band -= band % step
        parts = [self.read(slice(y, min(y + band, h)), slice(0, w))[::step, ::step] for y in range(0, h, band)]
        return np.concatenate(parts)


class _Gray:
    """The model's grayscale of a lazy image, region by region (what ``Segmenter.channels`` gives whole)."""

    def __init__(self, image: LazyImage, stained: bool):
        self.image, self.stained = image, stained
        self.shape = image.size

    def convert(self, pixels: np.ndarray) -> np.ndarray:
        from .channels import RGB_WEIGHTS, hematoxylin

        if pixels.ndim == 2:
            return pixels.astype(np.float32, copy=False)
        if self.stained:
            return hematoxylin(pixels[..., :3])
        return (pixels[..., :3].astype(np.float32) @ RGB_WEIGHTS).astype(np.float32)

    def __getitem__(self, region) -> np.ndarray:
        return self.convert(self.image.read(*region))


class _BlockStore:
    """Per-block arrays in a folder: ``put(kind, i, j, array)``; ``read(kind, ys, xs)`` assembles any
    region from the blocks it covers (memory-mapped reads of just those rows)."""

    def __init__(self, folder: Path, block: int):
        self.folder, self.block = folder, block
        self.offsets: dict[tuple[int, int], int] = {}  # added to the nonzero "interior" ids of each block

    def put(self, kind: str, i: int, j: int, array: np.ndarray) -> None:
        np.save(self.folder / f"{kind}_{i}_{j}.npy", array)

    def get(self, kind: str, i: int, j: int) -> np.ndarray:
        part = np.load(self.folder / f"{kind}_{i}_{j}.npy", mmap_mode="r")
        if kind != "interior" or not self.offsets.get((i, j)):
            return part
        part = np.array(part)
        part[part > 0] += self.offsets[i, j]
        return part

    def read(self, kind: str, ys: slice, xs: slice, dtype) -> np.ndarray:
        out = np.empty((ys.stop - ys.start, xs.stop - xs.start), dtype)
        b = self.block
        for i in range(ys.start // b, (ys.stop - 1) // b + 1):
            for j in range(xs.start // b, (xs.stop - 1) // b + 1):
                y0, x0 = max(ys.start, i * b), max(xs.start, j * b)
                y1, x1 = min(ys.stop, (i + 1) * b), min(xs.stop, (j + 1) * b)
                part = self.get(kind, i, j)
                out[y0 - ys.start : y1 - ys.start, x0 - xs.start : x1 - xs.start] = part[
                    y0 - i * b : y1 - i * b, x0 - j * b : x1 - j * b
                ]
                del part
        return out


def _seam_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, 2) id pairs that touch (8-connected) across a seam between edge lines ``a`` and ``b``."""
    pairs = []
    for u, v in ((a, b), (a[1:], b[:-1]), (a[:-1], b[1:])):  # straight across, and both diagonals
        both = (u > 0) & (v > 0)
        pairs.append(np.stack([u[both], v[both]], 1))
    return np.concatenate(pairs)


def segment_large(
    seg, src: str | Path, dst: str | Path, progress: Progress | None = None, client=None
) -> tuple[int, float | None]:
    """Segment the 2-D TIFF ``src`` into a tiled BigTIFF of labels at ``dst`` in bounded memory; returns
    (objects, diameter used or None). ``seg`` is a :class:`cellseg.inference.Segmenter`; with a
    ``dask.distributed`` ``client``, the blocks' network passes run on its workers."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from .channels import looks_stained
    from .inference import _Ticker, blocks
    from .io import label_dtype
    from .normalize import percentile_range
    from .postprocess import _grow_into_seams, fill_holes, size_filter

    src, dst = Path(src), Path(dst)
    o = seg.options
    image = LazyImage(src)
    h, w = image.size
    sample = image.sample()
    stained = image.axes == "YXS" and seg.rgb == "hematoxylin" and looks_stained(sample)
    gray = _Gray(image, stained)
    ranges = [percentile_range(gray.convert(sample), seg.low, seg.high)]
    del sample
    chans = [gray] + ([None] if seg.in_channels == 2 else [])
    ranges += [None] * (len(chans) - 1)
    scale = seg.scale_for(chans, ranges)
    block = o.block
    rows, cols = range(0, h, block), range(0, w, block)
    blocks_done = _Ticker(3 * len(rows) * len(cols), progress, src.name, stage="blocks")  # three passes
    with tempfile.TemporaryDirectory(prefix=".cellseg-large-", dir=dst.parent) as tmp:
        store = _BlockStore(Path(tmp), block)
        # 1. class maps and interior components per block (ids from 1 in each; offsets in block order)
        jobs = [
            (region, core, (t[0].start // block, t[1].start // block))
            for region, core, t in blocks((h, w), block, o.block_margin)
        ]
        job = (src, stained, ranges, scale, store.folder, block)
        if client is None:
            counts = []
            for region, core, ij in jobs:
                counts.append(_block_classes(seg, *job, region, core, ij))
                blocks_done.tick()
        else:
            counts = _classes_on_dask(client, o, job, jobs, blocks_done)
        offset = 0
        for (_, _, ij), n in zip(jobs, counts):
            store.offsets[ij] = offset
            offset += n

        # 2. join components touching across seams: to the right, below, and both lower diagonals
        def line(i: int, j: int, index) -> np.ndarray:
            return np.array(store.get("interior", i, j)[index])

        neighbours = (
            (0, 1, np.s_[:, -1], np.s_[:, 0]),
            (1, 0, np.s_[-1], np.s_[0]),
            (1, 1, np.s_[-1:, -1], np.s_[:1, 0]),
            (1, -1, np.s_[-1:, 0], np.s_[:1, -1]),
        )
        pairs = []
        for i in range(len(rows)):
            for j in range(len(cols)):
                for di, dj, mine, theirs in neighbours:
                    if i + di < len(rows) and 0 <= j + dj < len(cols):
                        pairs.append(_seam_pairs(line(i, j, mine), line(i + di, j + dj, theirs)))
        edges = np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64)
        graph = coo_matrix((np.ones(len(edges), np.int8), (edges[:, 0], edges[:, 1])), shape=(offset + 1, offset + 1))
        _, root = connected_components(graph, directed=False)
        root = root.astype(np.int64) + 1  # component of every id (1-based; id 0 maps to background below)
        root[0] = 0
        # 3. grow into seams and fill holes with a halo of the neighbours; sum object sizes over blocks
        halo = 3 + 2  # _grow_into_seams looks 2 * seam + 1 pixels away (seam 1), holes a ring further
        sizes = np.zeros(int(root.max()) + 1, np.int64)
        for i, y0 in enumerate(rows):
            for j, x0 in enumerate(cols):
                ys = slice(max(y0 - halo, 0), min(y0 + block + halo, h))
                xs = slice(max(x0 - halo, 0), min(x0 + block + halo, w))
                lab = root[store.read("interior", ys, xs, np.int32)]
                classes = store.read("classes", ys, xs, np.uint8)
                _grow_into_seams(lab, classes, 1, block=max(lab.shape))
                if o.fill_holes:
                    lab = fill_holes(lab, inplace=True)
                core = lab[y0 - ys.start : min(y0 + block, h) - ys.start, x0 - xs.start : min(x0 + block, w) - xs.start]
                sizes += np.bincount(core.ravel(), minlength=len(sizes))
                store.put("grown", i, j, np.ascontiguousarray(core))
                blocks_done.tick()
        # 4. drop small objects, sequential ids, written a band of tiles at a time
        keep = ~size_filter(sizes, max(o.min_size, 1), o.max_size)
        keep[0] = False
        n = int(keep.sum())
        dtype = label_dtype(n)
        lut = np.zeros(len(keep), dtype)
        lut[keep] = np.arange(1, n + 1)

        def tiles():
            rows_written = 0
            for y0 in range(0, h, TILE):
                ys = slice(y0, min(y0 + TILE, h))
                band = lut[store.read("grown", ys, slice(0, w), np.int64)]
                for x0 in range(0, w, TILE):
                    tile = np.zeros((TILE, TILE), dtype)
                    part = band[:, x0 : x0 + TILE]
                    tile[: part.shape[0], : part.shape[1]] = part
                    yield tile
                now = len(rows) if y0 + TILE >= h else (y0 + TILE) // block  # rows of blocks written
                if now > rows_written:
                    blocks_done.tick((now - rows_written) * len(cols))
                    rows_written = now

        _write_tiled(dst, tiles(), (h, w), dtype)
    return n, seg.last_diameter


def _block_classes(seg, src: Path, stained: bool, ranges, scale: float, folder: Path, block: int, region, core, ij):
    """Step 1 for one block: its class map and interior components (ids from 1), saved in ``folder``;
    returns how many components it holds."""
    from .inference import _Ticker
    from .normalize import apply_range
    from .postprocess import to_classes

    gray = _Gray(LazyImage(src), stained)
    x = np.zeros((seg.in_channels, region[0].stop - region[0].start, region[1].stop - region[1].start), np.float32)
    x[0] = apply_range(gray[region], *ranges[0])  # an absent nuclear channel stays zeros
    probs = seg._probabilities(x, _Ticker(0, None), scale)  # tile batches go unreported: progress counts blocks
    classes = to_classes(probs[(slice(None), *core)], seg.options.interior_threshold)
    del probs, x
    lab = np.zeros(classes.shape, np.int32)
    n = ndi.label(classes == INTERIOR, structure=np.ones((3, 3), bool), output=lab)
    store = _BlockStore(Path(folder), block)
    store.put("classes", *ij, classes)
    store.put("interior", *ij, lab)
    return int(n)


def _block_on_worker(options: dict, *job) -> int:
    from .batch import worker_segmenter
    from .options import SegmentOptions

    return _block_classes(worker_segmenter(SegmentOptions(**options)), *job)


def _classes_on_dask(client, options, job: tuple, jobs: list, blocks_done) -> list[int]:
    """Step 1 with one task per block on the cluster's workers; counts in block order. Ctrl-C cancels
    the blocks that have not run."""
    from distributed import as_completed

    futures = [
        client.submit(_block_on_worker, options.to_dict(), *job, region, core, ij, pure=False)
        for region, core, ij in jobs
    ]
    try:
        for fut in as_completed(futures):
            fut.result()  # a worker's error is raised here
            blocks_done.tick()
    except BaseException:
        client.cancel(futures)
        raise
    return [f.result() for f in futures]


def labels_sizes(path: str | Path, band: int = 1024) -> np.ndarray:
    """Pixel count of every object id (without the background) of a label TIFF, a band of rows at a time."""
    image = LazyImage(path)
    h, w = image.size
    sizes = np.zeros(1, np.int64)
    for y in range(0, h, band):
        counts = np.bincount(image.read(slice(y, min(y + band, h)), slice(0, w)).ravel())
        if len(counts) > len(sizes):
            sizes = np.pad(sizes, (0, len(counts) - len(sizes)))
        sizes[: len(counts)] += counts
    return sizes[1:]


def _write_tiled(dst: Path, tiles, shape: tuple[int, int], dtype) -> None:
    """A tiled, zlib-compressed BigTIFF from an iterator of TILE x TILE tiles (row-major), atomically."""
    import tifffile

    from .atomic import atomic_write

    def write(tmp: str) -> None:
        with tifffile.TiffWriter(tmp, bigtiff=True) as tif:
            tif.write(tiles, shape=shape, dtype=dtype, tile=(TILE, TILE), compression="zlib")

    atomic_write(dst, write)
