"""cellseg: universal cell instance segmentation for microscopy.

Public API: :class:`Segmenter` (image -> labels), :class:`SegmentOptions` (every inference option and
its default), :func:`build_model` / :class:`ModelConfig` (the network), :func:`load_model` /
:func:`save_model` (safetensors + JSON model files), :func:`evaluate_pair` (SEG, DET, AP50, F1),
:func:`read_image` / :func:`write_labels`.

Names are imported on first use, so ``cellseg`` itself (and the CLI's checks of its inputs) loads
without PyTorch.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cellseg")  # the one place it is written is pyproject.toml
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

_PUBLIC = {
    "Segmenter": ".inference",
    "SegmentOptions": ".options",
    "read_image": ".io",
    "write_labels": ".io",
    "evaluate_pair": ".metrics",
    "ModelConfig": ".model",
    "build_model": ".model",
    "load_model": ".modelfile",
    "save_model": ".modelfile",
}
__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name):
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name], __name__), name)
    raise AttributeError(f"module 'cellseg' has no attribute {name!r}")
