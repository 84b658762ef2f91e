"""Image files in and label files out.

``read_image`` returns frames shaped (T, Y, X) float32, whatever the file held. Axes come from the
file's own metadata (tifffile series axes, which read ImageJ hyperstacks and OME-TIFF): channels
(``C``, ``S``) are never taken for time frames; which channel is segmented (and which is the nuclear
channel) follows Cellpose's numbering, see :mod:`cellseg.channels`; Z-stacks are refused unless
``planes=True`` segments them plane by plane.
The size is read from the header first: an image of more than ``max_pixels`` values is refused before
anything is decoded. Every problem becomes an :class:`InputError` naming the file.
``write_labels`` writes atomically (temp file + rename), uint16 when the ids fit, else uint32.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import atomic_write
from .channels import RGB_WEIGHTS, select  # noqa: F401 (RGB_WEIGHTS re-exported)
from .errors import InputError
from .options import DEFAULTS

IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")
MIN_SIDE = 8
FRAME_AXES = "TIQ"  # time, image sequence (plain multi-page TIFF), unknown (tifffile's Q)
CHANNEL_AXES = "CS"  # channels, samples (RGB)


def find_images(inputs: list[str | Path]) -> tuple[list[Path], list[InputError]]:
    """Expand files and folders into image paths; missing paths and empty folders become errors."""
    found: list[Path] = []
    errors: list[InputError] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files = sorted(
                f
                for f in p.iterdir()
                if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".")
            )
            if not files:
                errors.append(InputError(p, f"folder holds no images ({', '.join(IMAGE_SUFFIXES)})"))
            found.extend(files)
        elif p.is_file():
            found.append(p)
        else:
            errors.append(InputError(p, "no such file or folder"))
    return found, errors


@dataclass
class Header:
    """What a file says about its pixels, read without decoding them."""

    shape: tuple[int, ...]
    dtype: np.dtype
    axes: str  # one letter per dimension of ``shape``: T/I/Q frames, Z planes, C/S channels, Y, X
    color: str = "gray"  # gray | rgb | palette | cmyk | channels

    @property
    def values(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def _tiff_header(path: Path) -> Header:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if not tif.series:
            raise InputError(path, "TIFF holds no image series")
        series = tif.series[0]
        page = series.keyframe
        photometric = int(page.photometric)
        color = {2: "rgb", 3: "palette", 5: "cmyk", 6: "rgb"}.get(photometric, "gray")
        if color == "cmyk":
            inkset = page.tags.get("InkSet")
            if inkset is not None and inkset.value != 1:
                raise InputError(path, "separated (non-CMYK ink set) TIFF is not supported")
        return Header(tuple(series.shape), np.dtype(series.dtype), series.axes, color)


def _png_header(path: Path) -> Header:
    with open(path, "rb") as f:
        head = f.read(33)
    if len(head) < 33 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise InputError(path, "not a readable image (not a PNG file)")
    w, h, depth, ctype = struct.unpack(">IIBB", head[16:26])
    samples = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(ctype)
    if samples is None:
        raise InputError(path, f"not a readable image (PNG colour type {ctype})")
    shape = (h, w) if samples == 1 else (h, w, samples)
    dtype = np.dtype(np.uint16 if depth == 16 else np.uint8)
    color = {2: "rgb", 3: "palette", 6: "rgb"}.get(ctype, "gray")
    return Header(shape, dtype, "YX" if samples == 1 else "YXS", color)


def _pil_header(path: Path) -> Header:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            w, h = im.size
            mode = im.mode
    except (UnidentifiedImageError, OSError) as e:
        raise InputError(path, f"not a readable image ({str(e).splitlines()[0] if str(e) else e!r})") from None
    bands = {"L": 1, "1": 1, "I;16": 1, "I": 1, "F": 1, "LA": 2, "RGB": 3, "YCbCr": 3, "RGBA": 4, "CMYK": 4, "P": 1}
    n = bands.get(mode, 3)
    color = {"RGB": "rgb", "RGBA": "rgb", "YCbCr": "rgb", "CMYK": "cmyk", "P": "palette"}.get(mode, "gray")
    return Header((h, w) if n == 1 else (h, w, n), np.dtype(np.uint8), "YX" if n == 1 else "YXS", color)


def read_header(path: str | Path) -> Header:
    """Shape, dtype and axes from the file header; nothing is decoded."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            return _tiff_header(path)
        if suffix == ".png":
            return _png_header(path)
        if suffix in (".jpg", ".jpeg"):
            return _pil_header(path)
    except InputError:
        raise
    except Exception as e:  # tifffile raises many types for broken files
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(path, f"not a readable image ({msg})") from None
    raise InputError(path, f"unsupported file type {suffix!r}; use one of {', '.join(IMAGE_SUFFIXES)}")


def check_size(path: str | Path, header: Header, max_pixels: int = DEFAULTS.max_pixels) -> None:
    """Refuse an image whose decoded size is beyond ``max_pixels`` values (all frames and channels)."""
    if header.values > max_pixels:
        gib = header.values * header.dtype.itemsize / 2**30
        shape = "x".join(str(n) for n in header.shape)
        raise InputError(
            path,
            f"image of {shape} ({header.axes}) would decode to {gib:.1f} GiB, "
            f"{header.values:,} values > the limit of {max_pixels:,}; "
            f"raise it with --max-pixels if this is intended",
        )


def _decode(path: Path, header: Header, indices: bool = False) -> np.ndarray:
    """Pixels of a file. Palette images become their colours, unless ``indices`` (label images are
    often saved as indexed colour: the index is the label)."""
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        import tifffile

        with tifffile.TiffFile(path) as tif:
            arr = tif.series[0].asarray()
            if header.color == "palette" and not indices:
                arr = tif.series[0].keyframe.colormap[:, arr]  # (3, ...) -> RGB, samples moved last below
                arr = np.moveaxis(arr, 0, -1)
        return arr
    if suffix == ".png" and header.dtype == np.uint16:
        import imagecodecs

        return np.asarray(imagecodecs.png_decode(path.read_bytes()))  # keeps the 16-bit range
    from PIL import Image

    with Image.open(path) as im:
        if im.mode == "P" and indices:
            return np.asarray(im)
        if im.mode in ("P", "PA"):
            im = im.convert("RGBA" if "transparency" in im.info or im.mode == "PA" else "RGB")
        elif im.mode == "CMYK":
            im = im.convert("RGB")
        elif im.mode in ("LA", "La", "1"):
            im = im.convert("L")
        elif im.mode == "YCbCr":
            im = im.convert("RGB")
        return np.asarray(im)


def to_frames_channels(arr: np.ndarray, header: Header, path: Path | str, planes: bool = False) -> np.ndarray:
    """Reorder a decoded array to (frames, Y, X, channels) by its axes."""
    axes = header.axes
    if header.color == "palette" and arr.ndim == len(axes) + 1:
        axes = axes + "S"
    if len(axes) != arr.ndim:
        raise InputError(path, f"axes {axes!r} do not match the decoded shape {arr.shape}")
    if "Y" not in axes or "X" not in axes:
        raise InputError(path, f"image has no Y and X axes (axes {axes!r})")
    size = dict(zip(axes, arr.shape))
    if size.get("Z", 1) > 1 and not planes:
        raise InputError(
            path,
            f"Z-stack of {size['Z']} planes (axes {axes}); cellseg is 2-D: segment it plane "
            f"by plane with --planes, or pass one plane",
        )
    stacked = [i for i, a in enumerate(axes) if a in FRAME_AXES + "Z" and arr.shape[i] > 1]
    if len(stacked) > 1 and any(axes[i] in "IQ" for i in stacked):
        raise InputError(
            path,
            f"{arr.ndim}-D array of shape {arr.shape} with axes {axes}: which axis is time is not "
            f"recorded; save it with axes metadata (e.g. TYX, CYX, ZYX)",
        )
    other = [a for a in axes if a not in FRAME_AXES + CHANNEL_AXES + "ZYX" and size[a] > 1]
    if other:
        raise InputError(path, f"unsupported axis {other[0]!r} of size {size[other[0]]} (axes {axes})")
    frames = [i for i, a in enumerate(axes) if a in FRAME_AXES + "Z"]
    chans = [i for i, a in enumerate(axes) if a in CHANNEL_AXES]
    rest = [i for i, a in enumerate(axes) if a not in FRAME_AXES + CHANNEL_AXES + "ZYX"]
    order = frames + [axes.index("Y"), axes.index("X")] + chans + rest
    arr = np.transpose(arr, order)
    n_frames = int(np.prod([arr.shape[i] for i in range(len(frames))], dtype=np.int64))
    n_chan = int(np.prod([size[axes[i]] for i in chans + rest], dtype=np.int64))
    return arr.reshape(n_frames, size["Y"], size["X"], n_chan)


def _load(path: Path, max_pixels: int, what: str, indices: bool = False) -> tuple[np.ndarray, Header]:
    """Header first (size refused before decoding), then the pixels; every failure one InputError."""
    header = read_header(path)
    check_size(path, header, max_pixels)
    try:
        return _decode(path, header, indices), header
    except InputError:
        raise
    except MemoryError:
        raise InputError(path, f"{what} too large to load into memory") from None
    except Exception as e:  # tifffile / Pillow / imagecodecs raise many types for broken files
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(path, f"not a readable {what} ({msg})") from None


def read_channels(
    path: str | Path,
    max_pixels: int = DEFAULTS.max_pixels,
    chan: int = DEFAULTS.chan,
    chan2: int = DEFAULTS.chan2,
    planes: bool = False,
    rgb: str = "luminance",
) -> tuple[np.ndarray, np.ndarray | None]:
    """(signal, nuclear) frames of one image file as float32 (T, Y, X); nuclear is None unless
    ``chan2`` picks a channel. Channel numbers as in Cellpose (:mod:`cellseg.channels`)."""
    fyxc, color = read_all_channels(path, max_pixels, planes)
    return select_channels(fyxc, color, path, chan, chan2, rgb)


def read_all_channels(path: str | Path, max_pixels: int = DEFAULTS.max_pixels, planes: bool = False):
    """(pixels as stored, arranged (T, Y, X, C), colour model) of one image file."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a folder, not an image file")
    arr, header = _load(path, max_pixels, "image")
    _check_pixel_type(arr, path)
    if arr.size == 0:
        raise InputError(path, f"image is empty (shape {arr.shape})")
    if header.axes in ("YX", "YXS") and arr.ndim != len(header.axes):  # PIL/imagecodecs decided the bands
        header = Header(arr.shape, arr.dtype, "YX" if arr.ndim == 2 else "YXS", header.color)
    return to_frames_channels(arr, header, path, planes), header.color


def select_channels(fyxc: np.ndarray, color: str, path, chan: int, chan2: int, rgb: str = "luminance"):
    """(signal, nuclear) float32 (T, Y, X) frames picked from (T, Y, X, C) pixels, as :func:`read_channels`."""
    signal, nuclear = select(fyxc, color, path, chan, chan2, rgb)
    return _check_frames(signal, path), None if nuclear is None else _check_frames(nuclear, path)


def read_image(
    path: str | Path,
    max_pixels: int = DEFAULTS.max_pixels,
    chan: int = DEFAULTS.chan,
    planes: bool = False,
    rgb: str = "luminance",
) -> np.ndarray:
    """Frames of one image file as float32 (T, Y, X); T = 1 for a 2-D image (the signal channel)."""
    return read_channels(path, max_pixels, chan, 0, planes, rgb)[0]


def _check_pixel_type(arr: np.ndarray, name) -> None:
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating) or arr.dtype == bool):
        raise InputError(name, f"unsupported pixel type {arr.dtype}")


def _check_frames(arr: np.ndarray, name) -> np.ndarray:
    if arr.size == 0:
        raise InputError(name, f"image is empty (shape {arr.shape})")
    if min(arr.shape[-2:]) < MIN_SIDE:
        h, w = arr.shape[-2:]
        raise InputError(name, f"image is too small ({h}x{w}); need at least {MIN_SIDE}x{MIN_SIDE} pixels")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise InputError(name, "image contains NaN or infinite pixels")
    return arr


def as_frames(
    arr: np.ndarray, name: str | Path = "<array>", chan: int = DEFAULTS.chan, rgb: str = "luminance"
) -> np.ndarray:
    """Validate an in-memory array and bring it to float32 (T, Y, X) (its signal channel).

    Arrays carry no axes, so the shape decides: (Y, X); (Y, X, 3|4) RGB(A); (T, Y, X); (T, Y, X, 3|4).
    With ``chan`` > 0 the last axis is taken for channels whatever its size.
    """
    return as_channels(arr, name, chan, 0, rgb)[0]


def as_channels(
    arr: np.ndarray,
    name: str | Path = "<array>",
    chan: int = DEFAULTS.chan,
    chan2: int = DEFAULTS.chan2,
    rgb: str = "luminance",
) -> tuple[np.ndarray, np.ndarray | None]:
    """(signal, nuclear or None) float32 (T, Y, X) frames of an in-memory array (see :func:`as_frames`)."""
    arr = np.asarray(arr)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    _check_pixel_type(arr, name)
    if arr.size == 0:
        raise InputError(name, f"image is empty (shape {arr.shape})")
    nuclear = None
    rgb_like = arr.ndim in (3, 4) and arr.shape[-1] in (3, 4) and arr.shape[-2] > 4
    if (rgb_like or chan or chan2) and arr.ndim >= 3:
        lead = arr.shape[:-1]
        fyxc = arr.reshape((-1, *lead[-2:], arr.shape[-1]))
        signal, nuclear = select(fyxc, "rgb" if rgb_like else "channels", name, chan, chan2, rgb)
        arr = signal.reshape(lead)
        nuclear = None if nuclear is None else nuclear.reshape(lead)
    elif chan2:
        raise InputError(name, f"--chan2 {chan2} asked for, but the image has no channel axis")
    if arr.ndim == 2:
        arr, nuclear = arr[None], None if nuclear is None else nuclear[None]
    if arr.ndim != 3:
        raise InputError(
            name,
            f"{arr.ndim}-D array of shape {arr.shape}; expected 2-D (Y, X), RGB (Y, X, 3) or a stack (T, Y, X)",
        )
    return _check_frames(arr, name), None if nuclear is None else _check_frames(nuclear, name)


def read_labels(path: str | Path, max_pixels: int = DEFAULTS.max_pixels, strict: bool = False) -> np.ndarray:
    """Instance labels of one file, as stored (2-D or T, Y, X), as an integer array.

    Labels must be non-negative integers. Float files whose values are all whole numbers are accepted
    (ImageJ saves labels as 32-bit float) unless ``strict`` (training), which wants an integer type.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    arr, _ = _load(path, max_pixels, "label image", indices=True)
    keep = [i for i, n in enumerate(arr.shape) if n > 1 or i >= arr.ndim - 2]
    arr = arr.reshape([arr.shape[i] for i in keep])
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating):
            raise InputError(path, f"labels must be integers, got {arr.dtype}")
        if strict:
            raise InputError(
                path, f"labels must be an integer image, got {arr.dtype} (save the labels as 16- or 32-bit integers)"
            )
        if not np.all(np.isfinite(arr)) or not np.all(np.mod(arr, 1) == 0):
            raise InputError(path, f"labels must be whole numbers; this {arr.dtype} image has fractional values")
        arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise InputError(path, f"labels must be >= 0, found {arr.min()}")
    return arr


def label_dtype(max_label: int) -> np.dtype:
    """uint16 when every id fits, else uint32 (never a silent wrap)."""
    if max_label <= np.iinfo(np.uint16).max:
        return np.dtype(np.uint16)
    if max_label <= np.iinfo(np.uint32).max:
        return np.dtype(np.uint32)
    raise ValueError(f"{max_label} labels do not fit uint32")


def write_labels(path: str | Path, labels: np.ndarray) -> Path:
    """Write labels as TIFF atomically (temp file in the same folder, then rename): uint16 when the ids
    fit, uint32 when an image has more than 65,535 objects."""
    import tifffile

    path = Path(path)
    labels = np.asarray(labels)
    if labels.size and labels.min() < 0:
        raise ValueError(f"{path}: negative labels")
    dtype = label_dtype(int(labels.max()) if labels.size else 0)
    atomic_write(
        path, lambda tmp: tifffile.imwrite(tmp, labels.astype(dtype, copy=False), compression="zlib"), suffix=".tif"
    )
    return path
