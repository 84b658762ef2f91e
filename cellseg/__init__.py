"""cellseg: universal cell instance segmentation for microscopy.

Public API: :class:`Segmenter` (image -> labels), :func:`build_model` / :class:`ModelConfig`
(the network), :func:`load_model` / :func:`save_model` (safetensors + JSON model files),
:func:`evaluate_pair` (SEG, DET, AP50, F1), :func:`read_image` / :func:`write_labels`.

Names are imported on first use, so ``cellseg`` itself (and the CLI's checks of its inputs) loads
without PyTorch.
"""

__version__ = "0.1.0"

_PUBLIC = {
    "Segmenter": ".inference", "read_image": ".io", "write_labels": ".io", "evaluate_pair": ".metrics",
    "ModelConfig": ".model", "build_model": ".model", "load_model": ".modelfile", "save_model": ".modelfile",
}
__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name):
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name], __name__), name)
    raise AttributeError(f"module 'cellseg' has no attribute {name!r}")
