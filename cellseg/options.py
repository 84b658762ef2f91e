"""Every option of reading and segmenting images, with its one default: :class:`SegmentOptions`.

The CLI (``cellseg segment`` and ``cellseg ctc segment``), the library (:class:`cellseg.Segmenter`),
the napari widget and the CTC runner are all built from this dataclass: its field defaults are the
defaults, its metadata the help text and limits the CLI and the widget show.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields, replace

from .errors import CellsegError


def _opt(default, help: str, lowest=None, highest=None):
    return field(default=default, metadata={"help": help, "min": lowest, "max": highest})


PRECISIONS = ("auto", "fp32", "bf16")


@dataclass
class SegmentOptions:
    model: str = _opt("default", "model folder, .safetensors file, or 'default' (the shipped model)")
    device: str = _opt("auto", "auto (CUDA when present), cpu, cuda or cuda:N")
    precision: str = _opt(
        "auto",
        "network arithmetic: auto (bf16 on CUDA and on CPUs with native bf16, AMX or AVX-512-bf16; fp32 "
        "elsewhere), fp32 or bf16",
    )
    onnx: str = _opt(
        "",
        "run the network in onnxruntime from this file (made by `cellseg export`); the model still gives "
        "normalization, channels and size",
    )
    tile: int = _opt(512, "tile size for sliding-window inference", 32, 8192)
    overlap: float = _opt(0.25, "overlap of neighbouring tiles (fraction of a tile)", 0.0, 0.95)
    batch: int = _opt(4, "tiles per forward pass", 1, 1024)
    tta: bool = _opt(False, "average over flips (3x slower)")
    diameter: float = _opt(
        0.0,
        "typical object diameter in pixels; 0 = estimate it per image (for models that record the diameter "
        "they were trained at)",
        0.0,
        None,
    )
    size_refine: bool = _opt(
        False,
        "refine the estimated diameter by segmenting a central crop at it and measuring what it finds "
        "(Cellpose's second size stage; one extra pass on a crop of at most 768 px; off by default: it did "
        "not help the shipped models on training frames, benchmarks/size_refine.py)",
    )
    min_size: int = _opt(15, "drop objects smaller than this (pixels)", 0, None)
    max_size: int = _opt(0, "drop objects larger than this (pixels); 0 = no limit", 0, None)
    interior_threshold: float = _opt(
        0.0,
        "how much more probable a pixel's interior class must be than the others for it to seed a cell, -1 to 1: "
        "0 = the most probable class; lower finds more and larger cells, higher fewer and smaller "
        "(Cellpose's cellprob_threshold x is tanh(x/2) here)",
        -1.0,
        1.0,
    )
    fill_holes: bool = _opt(True, "fill holes enclosed by one cell")
    chan: int = _opt(
        0,
        "channel to segment, numbered as in Cellpose: 0 = grayscale (luminance of colour images, or the "
        "hematoxylin of stained brightfield slides for models trained so), 1 = red / first channel, "
        "2 = green / second, 3 = blue / third, k = k-th channel of a multi-channel TIFF",
        0,
        None,
    )
    chan2: int = _opt(
        0,
        "optional nuclear channel (same numbering; 0 = none): helps a two-channel model split touching cells",
        0,
        None,
    )
    planes: bool = _opt(False, "segment Z-stacks plane by plane (cellseg is 2-D)")
    max_pixels: int = _opt(
        1_000_000_000,
        "refuse images of more values than this (frames x height x width x "
        "channels), read from the file header before decoding",
        1,
        None,
    )
    large: int = _opt(
        25_000_000,
        "2-D TIFF images of more pixels than this are read lazily, segmented block by block and written as a "
        "tiled BigTIFF, in bounded memory whatever their size",
        1,
        None,
    )
    block: int = _opt(
        2048, "frames larger than this many pixels a side are segmented block by block (bounded memory)", 64, None
    )
    block_margin: int = _opt(96, "context added around each block (pixels)", 0, None)

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """One-line errors for values out of range (the CLI's parser checks the same limits)."""
        for f in fields(self):
            value, lo, hi = getattr(self, f.name), f.metadata["min"], f.metadata["max"]
            if value is None or isinstance(value, (bool, str)):
                continue
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                bounds = f"from {lo}" + (f" to {hi}" if hi is not None else " up")
                raise CellsegError(f"{f.name} = {value!r} is out of range ({bounds})")
        if self.precision not in PRECISIONS:
            raise CellsegError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.overlap >= 1:
            raise CellsegError(f"overlap {self.overlap} must be below 1")

    def replace(self, **changes) -> SegmentOptions:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


#: the defaults, for code that needs one value (``DEFAULTS.max_pixels``)
DEFAULTS = SegmentOptions()


def option_fields(names: list[str] | None = None):
    """(name, default, type name, help, min, max) of the options, in declaration order."""
    for f in fields(SegmentOptions):
        if names is None or f.name in names:
            default = f.default if f.default is not MISSING else None
            yield f.name, default, f.type, f.metadata["help"], f.metadata["min"], f.metadata["max"]
