"""Tiled inference: image -> class probabilities -> instance labels.

:class:`Segmenter` holds a loaded model and segments 2-D frames or (T, Y, X) stacks. Images larger
than one tile go through MONAI's sliding-window inferer with Gaussian overlap blending; tiles are
batched; optional flip test-time augmentation. A ``progress(done, total)`` callback is called per
tile batch and may raise :class:`cellseg.errors.Cancelled` to stop.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from .errors import CellsegError
from .io import as_frames
from .normalize import percentile_normalize
from .postprocess import probabilities_to_labels

Progress = Callable[[int, int], None]


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise CellsegError("--device cuda was asked for, but PyTorch sees no CUDA GPU")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise CellsegError(f"unknown device {device!r}; use auto, cpu or cuda")
    return torch.device(device)


def tiles_per_frame(shape: tuple[int, int], tile: int, overlap: float) -> int:
    """How many tiles MONAI's sliding window visits on a frame of this shape."""
    n = 1
    for size in shape:
        roi = min(tile, size)
        step = max(int(roi * (1 - overlap)), 1)
        n *= math.ceil((size - roi) / step) + 1 if size > roi else 1
    return n


class Segmenter:
    """Segment cells with a cellseg model.

    >>> seg = Segmenter()                      # shipped default model, CUDA if present
    >>> labels = seg.segment(image)            # (Y, X) or (T, Y, X) -> uint16 labels
    """

    def __init__(self, model="default", device: str = "auto", tile: int = 512, overlap: float = 0.25,
                 batch: int = 4, tta: bool = False, min_size: int = 15):
        from .modelfile import load_model

        self.device = resolve_device(device)
        if isinstance(model, torch.nn.Module):
            self.model, self.meta = model.to(self.device).eval(), {}
        else:
            self.model, self.meta = load_model(model, self.device)
        norm = self.meta.get("normalization", {})
        self.low, self.high = norm.get("low", 1.0), norm.get("high", 99.8)
        self.tile, self.overlap, self.batch = int(tile), float(overlap), int(batch)
        self.tta, self.min_size = bool(tta), int(min_size)
        if self.tile < 32:
            raise CellsegError(f"tile size {tile} is too small; use 32 or more")
        if self.device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)

    # -- the three stages, usable on their own ---------------------------------------------
    def count_steps(self, frames: np.ndarray) -> int:
        """Progress units (tile batches) that :meth:`segment` will report for these frames."""
        per = math.ceil(tiles_per_frame(frames.shape[-2:], self.tile, self.overlap) / self.batch)
        return per * (len(frames) if frames.ndim == 3 else 1) * (3 if self.tta else 1)

    def probabilities(self, frame: np.ndarray, progress: Progress | None = None) -> np.ndarray:
        """Class probabilities (3, Y, X) of one 2-D frame (raw intensities)."""
        frame = as_frames(frame)[0]
        return self._probabilities(frame, _Ticker(self.count_steps(frame[None]), progress))

    @torch.inference_mode()
    def _probabilities(self, frame: np.ndarray, ticker: "_Ticker") -> np.ndarray:
        from monai.inferers import SlidingWindowInferer

        x = torch.from_numpy(percentile_normalize(frame, self.low, self.high))[None, None].to(self.device)
        roi = tuple(min(self.tile, s) for s in frame.shape)
        inferer = SlidingWindowInferer(roi_size=roi, sw_batch_size=self.batch, overlap=self.overlap,
                                       mode="gaussian", progress=False)
        def net(batch: torch.Tensor) -> torch.Tensor:
            if self.device.type == "cuda":
                batch = batch.contiguous(memory_format=torch.channels_last)
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    out = self.model(batch)
            else:
                out = self.model(batch)
            ticker.tick()
            return torch.softmax(out.float(), dim=1)

        flips = [(), (-1,), (-2,)] if self.tta else [()]
        acc = None
        for dims in flips:
            xi = torch.flip(x, dims) if dims else x
            p = inferer(xi, net)
            p = torch.flip(p, dims) if dims else p
            acc = p if acc is None else acc + p
        return (acc / len(flips))[0].cpu().numpy()

    def labels(self, probs: np.ndarray) -> np.ndarray:
        """Instance labels (uint16) from class probabilities (3, Y, X)."""
        return probabilities_to_labels(probs, min_size=self.min_size)

    def segment(self, image: np.ndarray, progress: Progress | None = None) -> np.ndarray:
        """uint16 instance labels for a 2-D image, an RGB image, or a (T, Y, X) stack."""
        image = np.asarray(image)
        frames = as_frames(image)
        squeeze = image.ndim == 2 or (image.ndim == 3 and image.shape[-1] in (3, 4) and frames.shape[0] == 1)
        ticker = _Ticker(self.count_steps(frames), progress)
        out = np.zeros(frames.shape, np.uint16)
        for t, frame in enumerate(frames):
            out[t] = self.labels(self._probabilities(frame, ticker))
        return out[0] if squeeze else out


class _Ticker:
    """Counts tile batches and reports them to a progress callback."""

    def __init__(self, total: int, progress: Progress | None):
        self.done, self.total, self.progress = 0, total, progress

    def tick(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)
