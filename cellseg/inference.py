"""Tiled inference: image -> class probabilities -> instance labels.

:class:`Segmenter` holds a loaded model and segments 2-D frames or (T, Y, X) stacks. Images larger
than one tile go through MONAI's sliding-window inferer with Gaussian overlap blending; tiles are
batched; optional flip test-time augmentation. Frames larger than ``options.block`` pixels a side go
block by block (each block with a margin of context), keeping only a uint8 class map of the whole
frame, so memory stays bounded whatever the image size. Every option and its default is a field of
:class:`cellseg.options.SegmentOptions`. A ``progress`` callback receives a
:class:`cellseg.progress.ProgressEvent` per tile batch and may raise :class:`cellseg.errors.Cancelled`
to stop.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from .errors import CellsegError
from .io import as_channels, label_dtype
from .normalize import apply_range, percentile_range
from .options import DEFAULTS, SegmentOptions
from .postprocess import classes_to_labels, probabilities_to_labels, to_classes
from .progress import Progress, ProgressEvent

#: the network never sees a frame rescaled beyond these factors (a 4x upscale is 16x the pixels)
SCALE_RANGE = (0.1, 4.0)


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise CellsegError("--device cuda was asked for, but PyTorch sees no CUDA GPU")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise CellsegError(f"unknown device {device!r}; use auto, cpu or cuda")
    return torch.device(device)


def cpu_info(field: str) -> str | None:
    """The first ``field`` of /proc/cpuinfo ("flags", "model name"...), or None (not Linux, no such field)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


@functools.lru_cache(maxsize=1)
def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AMX or AVX-512-bf16; read from /proc/cpuinfo on Linux)."""
    return bool(set((cpu_info("flags") or "").split()) & {"amx_bf16", "avx512_bf16"})


def use_bf16(precision: str, device: torch.device) -> bool:
    """bf16 autocast for the network? ``auto``: on CUDA, and on CPUs with native bf16."""
    if precision != "auto":
        return precision == "bf16"
    return device.type == "cuda" or native_bf16()


def resize_by(x: torch.Tensor, scale: float, floor: int = 16) -> torch.Tensor:
    """(N, C, H, W) images ``scale`` times their size (bilinear; antialiased when shrinking; at least
    ``floor`` pixels a side). The one resampling the network's inputs get, at inference and in the
    size features and calibration tiles that must match it."""
    import torch.nn.functional as F

    if scale == 1.0:
        return x
    size = tuple(max(floor, round(n * scale)) for n in x.shape[-2:])
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=scale < 1)


def tiles_per_frame(shape: tuple[int, int], tile: int, overlap: float) -> int:
    """How many tiles MONAI's sliding window visits on a frame of this shape."""
    n = 1
    for size in shape:
        roi = min(tile, size)
        step = max(int(roi * (1 - overlap)), 1)
        n *= math.ceil((size - roi) / step) + 1 if size > roi else 1
    return n


def blocks(shape: tuple[int, int], block: int = DEFAULTS.block, margin: int = DEFAULTS.block_margin):
    """(region, core_in_region, core_in_frame) slices covering a frame block by block; one block when
    the frame fits."""
    h, w = shape
    if h <= block and w <= block:
        whole = (slice(0, h), slice(0, w))
        yield whole, whole, whole
        return
    for y0 in range(0, h, block):
        for x0 in range(0, w, block):
            y1, x1 = min(y0 + block, h), min(x0 + block, w)
            ry, rx = slice(max(y0 - margin, 0), min(y1 + margin, h)), slice(max(x0 - margin, 0), min(x1 + margin, w))
            core = (slice(y0 - ry.start, y1 - ry.start), slice(x0 - rx.start, x1 - rx.start))
            yield (ry, rx), core, (slice(y0, y1), slice(x0, x1))


class Segmenter:
    """Segment cells with a cellseg model.

    >>> seg = Segmenter()                            # shipped default model, CUDA if present
    >>> seg = Segmenter("my_model", tile=256)        # any SegmentOptions field as a keyword
    >>> seg = Segmenter(options=SegmentOptions(tta=True))
    >>> labels = seg.segment(image)                  # (Y, X) or (T, Y, X) -> uint16 labels
    """

    def __init__(self, model=None, options: SegmentOptions | None = None, **changes):
        from .modelfile import load_model

        opts = options or DEFAULTS
        if model is not None and not isinstance(model, torch.nn.Module):
            changes["model"] = str(model)
        self.options = opts.replace(**changes)  # validated
        self.device = resolve_device(self.options.device)
        if isinstance(model, torch.nn.Module):
            self.model, self.meta = model.to(self.device).eval(), {}
        else:
            self.model, self.meta = load_model(self.options.model, self.device)
        self.model_diameter = self.meta.get("object_diameter")  # None: no size handling (older models)
        # the size objects are brought to for segmenting (None: object_diameter); see read_segment_diameter
        self.segment_diameter = read_segment_diameter(self.meta, self.options.model)
        self.last_scale = 1.0  # the rescaling the network saw for the last frame
        self.size_model = _size_model(self.meta, self.options.model)  # None: the size pass estimates
        config = getattr(self.model, "config", None)
        self.in_channels = int(getattr(config, "in_channels", 1))  # 2: signal + nuclear channel
        # what grayscale of a colour image means to this model (older models: luminance)
        self.rgb = "hematoxylin" if self.meta.get("input", {}).get("rgb") == "hematoxylin" else "luminance"
        self.last_diameter: float | None = None  # the diameter used (given or estimated) for the last frame
        norm = self.meta.get("normalization", {})
        self.low, self.high = norm.get("low", 1.0), norm.get("high", 99.8)
        self.channels_last = True  # faster on CPU (1.6x here) and GPU alike; benchmarks switch it off
        self.model = self.model.to(memory_format=torch.channels_last)

    @property
    def onnx_network(self):
        """The network in onnxruntime when ``options.onnx`` names an exported file (else None)."""
        if not self.options.onnx:
            return None
        if getattr(self, "_onnx", (None, None))[0] != self.options.onnx:
            from .export import OnnxNetwork

            self._onnx = (self.options.onnx, OnnxNetwork(self.options.onnx, torch.get_num_threads()))
        return self._onnx[1]

    @property
    def tile(self) -> int:
        """Tile side of the sliding window: the exported network's under ``--onnx``, else the option."""
        return self.onnx_network.tile if self.options.onnx else self.options.tile

    @property
    def bf16(self) -> bool:
        """Whether the network runs under bf16 autocast (``options.precision``)."""
        return use_bf16(self.options.precision, self.device)

    # -- the three stages, usable on their own ---------------------------------------------
    def count_steps(self, frames: np.ndarray, scale: float = 1.0) -> int:
        """Progress units (tile batches) that :meth:`segment` will report for these frames (at a scale)."""
        o = self.options
        tile = self.tile

        def scaled(r):
            return tuple(max(16, round((sl.stop - sl.start) * scale)) for sl in r)

        per = sum(
            math.ceil(tiles_per_frame(scaled(r), tile, o.overlap) / o.batch)
            for r, _, _ in blocks(frames.shape[-2:], o.block, o.block_margin)
        )
        return per * (len(frames) if frames.ndim == 3 else 1) * (3 if o.tta else 1)

    def channels(self, signal: np.ndarray, nuclear: np.ndarray | None = None) -> list:
        """The network's input channels of one frame (raw, 2-D): the signal, then the nuclear channel
        for a two-channel model (None: absent, the network sees zeros there)."""
        if nuclear is not None and self.in_channels < 2:
            raise CellsegError("a nuclear channel (--chan2) was given, but this model takes one channel")
        if nuclear is not None and nuclear.shape != signal.shape:
            raise CellsegError(f"nuclear channel of shape {nuclear.shape} differs from the image {signal.shape}")
        return [signal, nuclear][: self.in_channels]

    def ranges(self, chans: list) -> list:
        """Each channel's (low, high) percentile intensities over the whole frame (None: absent)."""
        return [None if c is None else percentile_range(c, self.low, self.high) for c in chans]

    def normalized(self, chans: list, region=(slice(None), slice(None)), ranges=None) -> np.ndarray:
        """(C, y, x) float32 network input of a region, each channel by its own percentiles (of the
        whole frame unless ``ranges`` are given); an absent channel is zeros."""
        ranges = ranges or self.ranges(chans)
        shape = chans[0][region].shape
        return np.stack(
            [np.zeros(shape, np.float32) if c is None else apply_range(c[region], *r) for c, r in zip(chans, ranges)]
        )

    def probabilities(
        self, frame: np.ndarray, progress: Progress | None = None, nuclear: np.ndarray | None = None
    ) -> np.ndarray:
        """Class probabilities (3, Y, X) of one 2-D frame (raw intensities), in one piece."""
        o = self.options
        frame, _ = as_channels(frame, "<array>", rgb=self.rgb)
        chans = self.channels(frame[0], None if nuclear is None else np.asarray(nuclear, np.float32))
        ticker = _Ticker(
            math.ceil(tiles_per_frame(frame.shape[-2:], o.tile, o.overlap) / o.batch) * (3 if o.tta else 1), progress
        )
        return self._probabilities(self.normalized(chans), ticker)

    def scale_for(self, chans: list, ranges=None) -> float:
        """Rescaling that brings this frame's objects to the size the model segments best (its
        ``segment_diameter``, else the ``object_diameter`` it was trained at; 1 without size handling)."""
        self.last_diameter, self.last_scale = None, 1.0
        if not self.model_diameter:
            return 1.0
        d = self.options.diameter or self.estimate_diameter(chans, ranges)
        if not d:
            return 1.0
        self.last_diameter = float(d)
        self.last_scale = self.scale_of(d)
        return self.last_scale

    def scale_of(self, diameter: float) -> float:
        """Rescaling that brings objects of ``diameter`` pixels to the size the model segments at."""
        return float(np.clip((self.segment_diameter or self.model_diameter) / diameter, *SCALE_RANGE))

    def estimate_diameter(self, chans: list, ranges=None) -> float | None:
        """Median object diameter of a frame (its pixels): the model's size regression on its encoder's
        features, refined by segmenting a central crop at it (``size_refine``), else a size pass of the
        network (None when that finds nothing it trusts)."""
        from .size import (
            PASS_CROP,
            PASS_SCALES,
            central_region,
            estimate_diameter,
            feature_region,
            refine_diameter,
            size_features,
        )

        if self.size_model is not None:
            x = self.normalized(chans, feature_region(chans[0].shape), ranges)
            d = self.size_model.diameter(size_features(x, self.model.unet.encoder, self.device))
            if not self.options.size_refine:
                return d

            def segment_region(region, s):
                return self._labels_at_scale(self.normalized(chans, region, ranges), s)

            return refine_diameter(chans[0].shape, d, self.scale_of(d), segment_region)
        region = central_region(chans[0].shape, int(PASS_CROP / min(PASS_SCALES)))
        return estimate_diameter(self.normalized(chans, region, ranges), self._labels_at_scale, self.model_diameter)

    def estimate(self, image: np.ndarray, nuclear: np.ndarray | None = None, name: str = "") -> float | None:
        """Median object diameter (pixels) of an image's first frame as this model estimates it (what
        ``diameter=0`` uses); None when the model has no size handling or finds nothing it trusts."""
        if not self.model_diameter:
            return None
        frames, _ = as_channels(np.asarray(image), name or "<array>", rgb=self.rgb)
        nuc = None if nuclear is None else as_channels(nuclear, name or "<nuclear channel>")[0][0]
        chans = self.channels(frames[0], nuc)
        d = self.estimate_diameter(chans, self.ranges(chans))
        return None if d is None else float(d)

    def _labels_at_scale(self, crop: np.ndarray, scale: float) -> np.ndarray:
        """The size pass: labels of a (small, normalized (C, y, x)) crop segmented at ``scale``."""
        probs = self._probabilities(crop, _Ticker(0, None), scale)
        return classes_to_labels(np.argmax(probs, axis=0).astype(np.uint8), min_size=4)

    def classes(self, chans: list, ticker: _Ticker, scale: float = 1.0, ranges=None) -> np.ndarray:
        """uint8 class map (Y, X) of one frame's channels, block by block for large frames, the network
        seeing the frame rescaled by ``scale`` (probabilities are resized back, never the labels)."""
        ranges = ranges or self.ranges(chans)
        shape = chans[0].shape
        out = np.empty(shape, np.uint8)
        for region, core, target in blocks(shape, self.options.block, self.options.block_margin):
            probs = self._probabilities(self.normalized(chans, region, ranges), ticker, scale)
            out[target] = to_classes(probs[(slice(None), *core)], self.options.interior_threshold)
        return out

    @torch.inference_mode()
    def _probabilities(self, normalized: np.ndarray, ticker: _Ticker, scale: float = 1.0) -> np.ndarray:
        import torch.nn.functional as F
        from monai.inferers import SlidingWindowInferer

        x = resize_by(torch.from_numpy(np.ascontiguousarray(normalized))[None].to(self.device), scale)
        size = tuple(normalized.shape[-2:])
        o = self.options
        onnx = self.onnx_network
        roi = tuple(min(self.tile, s) for s in x.shape[-2:])
        inferer = SlidingWindowInferer(
            roi_size=roi, sw_batch_size=o.batch, overlap=o.overlap, mode="gaussian", progress=False
        )

        def net(batch: torch.Tensor) -> torch.Tensor:
            if onnx is not None:
                out = torch.from_numpy(onnx.logits(batch.cpu().numpy()))
            else:
                if self.channels_last:
                    batch = batch.contiguous(memory_format=torch.channels_last)
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                    out = self.model(batch)
            ticker.tick()
            return torch.softmax(out.float(), dim=1)

        flips = [(), (-1,), (-2,)] if o.tta else [()]
        acc = None
        for dims in flips:
            xi = torch.flip(x, dims) if dims else x
            p = inferer(xi, net)
            p = torch.flip(p, dims) if dims else p
            acc = p if acc is None else acc + p
        acc = acc / len(flips)
        if acc.shape[-2:] != size:
            acc = F.interpolate(acc, size=size, mode="bilinear", align_corners=False)
        return acc[0].cpu().numpy()

    def labels(self, probs: np.ndarray) -> np.ndarray:
        """Instance labels (uint16, uint32 beyond 65,535 objects) from class probabilities (3, Y, X)."""
        return probabilities_to_labels(probs, options=self.options)

    def to_labels(self, classes: np.ndarray) -> np.ndarray:
        """Instance labels from a class map, with the options' sizes and hole filling."""
        o = self.options
        return classes_to_labels(classes, o.min_size, 1, o.max_size, o.fill_holes)

    def segment(
        self,
        image: np.ndarray,
        progress: Progress | None = None,
        name: str = "",
        nuclear: np.ndarray | None = None,
    ) -> np.ndarray:
        """Instance labels for a 2-D image, an RGB image, or a (T, Y, X) stack: uint16, or uint32 when a
        frame holds more than 65,535 objects. ``nuclear``: the nuclear channel, shaped like the image's
        frames (channels are picked when reading: :func:`cellseg.io.read_channels`, or
        :func:`cellseg.io.as_channels` for arrays). ``progress`` gets a "tiles" event per tile batch."""
        image = np.asarray(image)
        frames, _ = as_channels(image, name or "<array>", rgb=self.rgb)
        nuc = None if nuclear is None else as_channels(nuclear, name or "<nuclear channel>")[0]
        if nuc is not None and nuc.shape != frames.shape:
            raise CellsegError(f"{name or 'image'}: nuclear channel {nuc.shape} differs from the image {frames.shape}")
        squeeze = image.ndim == 2 or (image.ndim == 3 and image.shape[-1] in (3, 4) and frames.shape[0] == 1)
        ticker = _Ticker(self.count_steps(frames), progress, name)
        out = []
        for t, frame in enumerate(frames):
            chans = self.channels(frame, None if nuc is None else nuc[t])
            ranges = self.ranges(chans)
            scale = self.scale_for(chans, ranges)
            if scale != 1.0:  # the network sees more or fewer tiles than planned
                ticker.total += self.count_steps(frame[None], scale) - self.count_steps(frame[None])
            out.append(self.to_labels(self.classes(chans, ticker, scale, ranges)))
        dtype = label_dtype(max(int(o.max()) for o in out))
        stacked = np.stack([o.astype(dtype, copy=False) for o in out])
        return stacked[0] if squeeze else stacked


def _size_model(meta: dict, path):
    """The model's size regression from its JSON (None without one); a bad entry is a one-line error."""
    from .errors import ModelFileError
    from .size import SizeRegression

    entry = meta.get("size_model")
    if not entry:
        return None
    try:
        return SizeRegression.from_dict(entry)
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(path, f"bad size_model: {e}") from None


def read_segment_diameter(meta: dict, path) -> float | None:
    """The model's ``segment_diameter`` (None without one): the object diameter, in pixels, that frames are
    rescaled to for segmenting. A network trained at ``object_diameter`` D (with scale jitter) can segment
    best at another size; it is chosen per model on training frames only (``benchmarks/working_scale.py``).
    A bad entry is a one-line error."""
    from .errors import ModelFileError

    value = meta.get("segment_diameter")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ModelFileError(path, f"bad segment_diameter {value!r}: a positive number of pixels")
    return float(value)


class _Ticker:
    """Counts units of work (tile batches; blocks on the large-image path) and reports them to a progress
    callback."""

    def __init__(self, total: int, progress: Progress | None, item: str = "", stage: str = "tiles"):
        self.done, self.total, self.progress, self.item, self.stage = 0, total, progress, item, stage

    def tick(self, n: int = 1) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(ProgressEvent(self.stage, self.done, self.total, self.item))
