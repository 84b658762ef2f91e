"""Image files in and label files out.

``read_image`` returns frames shaped (T, Y, X) float32, whatever the file held: 2-D gray, RGB(A)
(converted to luminance, ITU-R 601 weights), or a multi-frame TIFF (T, Y, X). Every problem becomes
an :class:`InputError` naming the file. ``write_labels`` writes atomically (temp file + rename).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .atomic import atomic_write
from .errors import InputError

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")
MIN_SIDE = 8
RGB_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)


def find_images(inputs: list[str | Path]) -> tuple[list[Path], list[InputError]]:
    """Expand files and folders into image paths; missing paths and empty folders become errors."""
    found: list[Path] = []
    errors: list[InputError] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files = sorted(f for f in p.iterdir()
                           if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith("."))
            if not files:
                errors.append(InputError(p, f"folder holds no images ({', '.join(IMAGE_SUFFIXES)})"))
            found.extend(files)
        elif p.is_file():
            found.append(p)
        else:
            errors.append(InputError(p, "no such file or folder"))
    return found, errors


def _load_raw(path: Path) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        import tifffile

        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            arr = series.asarray()
            axes = series.axes
        # squeeze singleton axes but keep what the file calls samples (S) last
        if "S" in axes and axes.index("S") != len(axes) - 1:  # planar RGB: samples last
            arr = np.moveaxis(arr, axes.index("S"), -1)
            axes = axes.replace("S", "") + "S"
        keep = [i for i, (a, n) in enumerate(zip(axes, arr.shape)) if n > 1 or a in "YX"]
        return arr.reshape([arr.shape[i] for i in keep])
    if suffix in (".png", ".jpg", ".jpeg"):
        import imageio.v3 as iio

        arr = np.asarray(iio.imread(path))
        if arr.ndim == 3 and arr.shape[-1] == 2:  # gray + alpha
            arr = arr[..., 0]
        return arr
    raise InputError(path, f"unsupported file type {suffix!r}; use one of {', '.join(IMAGE_SUFFIXES)}")


def read_image(path: str | Path) -> np.ndarray:
    """Frames of one image file as float32 (T, Y, X); T = 1 for a 2-D image."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a folder, not an image file")
    try:
        arr = _load_raw(path)
    except InputError:
        raise
    except MemoryError:
        raise InputError(path, "image too large to load into memory") from None
    except Exception as e:  # tifffile / imageio raise many types for broken files
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(path, f"not a readable image ({msg})") from None
    return as_frames(arr, path)


def as_frames(arr: np.ndarray, name: str | Path = "<array>") -> np.ndarray:
    """Validate an array and bring it to float32 (T, Y, X)."""
    arr = np.asarray(arr)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise InputError(name, f"unsupported pixel type {arr.dtype}")
    if arr.size == 0:
        raise InputError(name, f"image is empty (shape {arr.shape})")
    rgb = arr.ndim in (3, 4) and arr.shape[-1] in (3, 4) and arr.shape[-2] > 4
    if rgb:
        arr = (arr[..., :3].astype(np.float32) * RGB_WEIGHTS).sum(axis=-1)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise InputError(
            name,
            f"{arr.ndim}-D array of shape {arr.shape}; expected 2-D (Y, X), RGB (Y, X, 3) or a stack (T, Y, X)",
        )
    if min(arr.shape[-2:]) < MIN_SIDE:
        h, w = arr.shape[-2:]
        raise InputError(name, f"image is too small ({h}x{w}); need at least {MIN_SIDE}x{MIN_SIDE} pixels")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise InputError(name, "image contains NaN or infinite pixels")
    return arr


def read_labels(path: str | Path) -> np.ndarray:
    """Instance labels of one file, as stored (2-D or T, Y, X)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    try:
        arr = _load_raw(path)
    except InputError:
        raise
    except Exception as e:
        raise InputError(path, f"not a readable label image ({str(e).splitlines()[0] if str(e) else e!r})") from None
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.mod(arr, 1) == 0):
            arr = arr.astype(np.int64)
        else:
            raise InputError(path, f"labels must be integers, got {arr.dtype}")
    return arr


def write_labels(path: str | Path, labels: np.ndarray) -> Path:
    """Write uint16 labels as TIFF atomically: a temp file in the same folder, then rename."""
    import tifffile

    path = Path(path)
    labels = np.asarray(labels)
    if labels.size and labels.max() > np.iinfo(np.uint16).max:
        raise ValueError(f"{path}: {labels.max()} labels do not fit uint16")
    atomic_write(path, lambda tmp: tifffile.imwrite(tmp, labels.astype(np.uint16), compression="zlib"),
                 suffix=".tif")
    return path
