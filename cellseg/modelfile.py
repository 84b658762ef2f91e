"""Model files: weights in safetensors plus a JSON config. Opening one never runs code (no pickle).

A model is a folder holding ``model.safetensors`` and ``config.json``, or a ``NAME.safetensors``
file with ``NAME.json`` beside it. The shipped default model is ``cellseg/models/default``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from .atomic import atomic_write
from .errors import ModelFileError
from .model import CellUNet, ModelConfig, build_model

FORMAT = "cellseg-model"
MODELS_DIR = Path(__file__).parent / "models"
DEFAULT_MODEL = MODELS_DIR / "default"


def builtin_models(root: Path = MODELS_DIR) -> dict[str, Path]:
    """The shipped models by name: every folder of ``root`` that holds a ``config.json`` ("default", and
    earlier defaults kept by name); none when ``root`` is missing (a broken install then fails where a
    model is opened, with the path, not at import)."""
    if not root.is_dir():
        return {}
    return {d.name: d for d in sorted(root.iterdir()) if (d / "config.json").is_file()}


BUILTIN = builtin_models()


def user_models_dir() -> Path:
    """Where named user models live (``cellseg finetune ... -o NAME``): the user's data directory
    (platformdirs), or ``$CELLSEG_MODELS``."""
    import os

    if os.environ.get("CELLSEG_MODELS"):
        return Path(os.environ["CELLSEG_MODELS"])
    from platformdirs import user_data_dir

    return Path(user_data_dir("cellseg")) / "models"


def is_name(text: str) -> bool:
    """A bare model name (``my-cells``), not a path."""
    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", str(text))) and not str(text).endswith(
        (".safetensors", ".json")
    )


def resolve_model(path: str | Path) -> Path:
    """The folder or file a model name, folder or file means: built-in names, then a folder or file of
    that path, then a user model of that name."""
    if str(path) in BUILTIN:
        return BUILTIN[str(path)]
    p = Path(path)
    if not p.exists() and is_name(str(path)) and (user_models_dir() / str(path)).is_dir():
        return user_models_dir() / str(path)
    return p


def list_models() -> list[tuple[str, Path]]:
    """(name, folder) of the built-in models and of the user's named models."""
    found = sorted(BUILTIN.items())
    root = user_models_dir()
    if root.is_dir():
        found += [(d.name, d) for d in sorted(root.iterdir()) if (d / "config.json").is_file()]
    return found


def model_paths(path: str | Path) -> tuple[Path, Path]:
    """(weights, config) for a model name, folder or .safetensors file."""
    p = resolve_model(path)
    if p.is_dir():
        return p / "model.safetensors", p / "config.json"
    if p.suffix == ".safetensors":
        return p, p.with_suffix(".json")
    if p.suffix == ".json":
        return p.with_suffix(".safetensors"), p
    if not p.exists():
        raise ModelFileError(p, "no such file or folder")
    raise ModelFileError(p, "expected a model folder or a .safetensors file with a .json beside it")


def read_model_config(path: str | Path) -> dict:
    weights, cfg_path = model_paths(path)
    for f in (weights, cfg_path):
        if not f.is_file():
            raise ModelFileError(path, f"{f.name} is missing")
    try:
        meta = json.loads(cfg_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(cfg_path, f"config is not valid JSON: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(cfg_path, f'config lacks "format": "{FORMAT}"')
    return meta


def model_config(meta: dict, path) -> ModelConfig:
    """The network's config from a model file's JSON, checked (one-line error naming the file)."""
    if not isinstance(meta.get("model"), dict):
        raise ModelFileError(path, 'config lacks the "model" section')
    try:
        return ModelConfig.from_dict({**meta["model"], "encoder_weights": None})
    except (KeyError, TypeError, ValueError) as e:
        msg = str(e).strip("'\"") or type(e).__name__
        raise ModelFileError(path, f"bad model config: {msg}") from None


def check_normalization(meta: dict, path) -> None:
    norm = meta.get("normalization", {})
    if not isinstance(norm, dict):
        raise ModelFileError(path, f"bad normalization {norm!r}")
    kind, low, high = norm.get("kind", "percentile"), norm.get("low", 1.0), norm.get("high", 99.8)
    if kind != "percentile":
        raise ModelFileError(path, f"unknown normalization kind {kind!r} (percentile)")
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high))
    if not numbers or not 0 <= low < high <= 100:
        raise ModelFileError(
            path, f"bad normalization percentiles low={low!r}, high={high!r} (need 0 <= low < high <= 100)"
        )


def write_model_config(path: str | Path, meta: dict) -> None:
    """Write a model's JSON atomically: indented, each list of numbers on one line (a size regression's
    thousands of coefficients stay three lines, not thousands)."""

    def one_line(m: re.Match) -> str:
        return "[" + ", ".join(v.strip() for v in m.group(1).split(",") if v.strip()) + "]"

    # a list json.dumps spread over lines (a string's brackets never hold a raw newline)
    text = re.sub(r"\[(\n[-+0-9.eE,\s]*)\]", one_line, json.dumps(meta, indent=2))
    atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text + "\n"))


def load_model(path: str | Path = "default", device: str | torch.device = "cpu") -> tuple[CellUNet, dict]:
    """Rebuild the network from its JSON config and load safetensors weights (float32, eval mode)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    meta = read_model_config(path)
    weights, _ = model_paths(path)
    config = model_config(meta, path)
    check_normalization(meta, path)
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFileError(weights, f"weights are not a safetensors file: {e}") from None
    try:
        model = build_model(config)
    except Exception as e:  # smp and timm raise KeyError, ValueError or RuntimeError for unknown encoders
        raise ModelFileError(
            path,
            f"cannot build the network for encoder {config.encoder!r}: "
            f"{str(e).splitlines()[0] if str(e) else type(e).__name__}",
        ) from None
    try:
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except RuntimeError as e:
        raise ModelFileError(weights, f"weights do not match the config: {str(e).splitlines()[0]}") from None
    return model.to(device).eval(), meta


def save_model(model: CellUNet, folder: str | Path, half: bool = True, **info) -> Path:
    """Write ``folder/model.safetensors`` and ``folder/config.json`` atomically.

    ``info`` adds keys to the config (normalization, training summary...); ``rgb`` (how colour images
    become grayscale for this model, :mod:`cellseg.channels`) goes into its ``input`` entry.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if half else torch.float32
    state = {
        k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
        for k, v in model.state_dict().items()
    }
    meta = {
        "format": FORMAT,
        "version": 1,
        "model": model.config.to_dict(),
        "normalization": {"kind": "percentile", "low": 1.0, "high": 99.8},
        **info,
    }
    channels = ["signal", "nuclear"][: model.config.in_channels] if model.config.in_channels <= 2 else None
    meta["input"] = {"rgb": info.get("rgb") or "luminance", "channels": channels}
    meta.pop("rgb", None)
    meta["model"]["encoder_weights"] = None
    atomic_write(folder / "model.safetensors", lambda tmp: save_file(state, tmp))
    write_model_config(folder / "config.json", meta)
    return folder
