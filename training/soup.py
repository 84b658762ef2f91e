"""Interpolate the weights of two models of one network and lineage (WiSE-FT, Wortsman et al. 2022).

    python -m cellseg.training.soup default v2_preview --alpha 0.5 -o runs/soup_50

The new weights are ``(1 - alpha) * A + alpha * B``, computed in float32 and saved as float16. Fine-tuning a
model further moves it along a low-loss valley; a point between the start and the end can keep what the start
did well while holding most of what the end learnt, at no training cost. Both models must have the same network
(``model`` in their JSON) and input handling; the result takes B's JSON, records both parents and ``alpha`` in
``training.soup``, and drops what depends on the exact weights and must be measured again: the size regression
(``python -m cellseg.training.size_fit``) and the segmenting size (``benchmarks/working_scale.py --write``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cellseg.atomic import atomic_write
from cellseg.errors import CellsegError
from cellseg.modelfile import model_paths, read_model_config, write_model_config


def soup(a: str, b: str, alpha: float, out: str | Path) -> Path:
    """Write the model ``(1 - alpha) * a + alpha * b`` into the folder ``out``; return it."""
    from safetensors.torch import load_file, save_file

    if not 0.0 <= alpha <= 1.0:
        raise CellsegError(f"alpha {alpha} must be between 0 and 1")
    meta_a, meta_b = read_model_config(a), read_model_config(b)
    for key in ("model", "normalization", "input", "object_diameter"):
        if meta_a.get(key) != meta_b.get(key):
            raise CellsegError(f"{a} and {b} differ in {key!r}: only models of one network can be interpolated")
    wa, wb = (load_file(str(model_paths(m)[0])) for m in (a, b))
    if wa.keys() != wb.keys() or any(wa[k].shape != wb[k].shape for k in wa):
        raise CellsegError(f"{a} and {b} hold different tensors: only models of one network can be interpolated")
    state = {}
    for k, ta in wa.items():
        tb = wb[k]
        if ta.is_floating_point():
            state[k] = ((1 - alpha) * ta.float() + alpha * tb.float()).half().contiguous()
        else:  # counters (num_batches_tracked): B's
            state[k] = tb.contiguous()
    meta = {k: v for k, v in meta_b.items() if k not in ("size_model", "segment_diameter", "validation")}
    datasets = {**meta_a.get("training", {}).get("datasets", {}), **meta_b.get("training", {}).get("datasets", {})}
    meta["training"] = {
        **meta_b.get("training", {}),
        "datasets": datasets,
        "soup": {"a": str(a), "b": str(b), "alpha": alpha, "a_training": meta_a.get("training", {}).get("config")},
    }
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "model.safetensors", lambda tmp: save_file(state, tmp))
    write_model_config(folder / "config.json", meta)
    return folder


def main(argv=None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a", help="the first model (weight 1 - alpha): name, folder or .safetensors file")
    p.add_argument("b", help="the second model (weight alpha); the result takes its JSON")
    p.add_argument("--alpha", type=float, required=True, help="B's weight, 0 to 1")
    p.add_argument("-o", "--out", required=True, help="the new model's folder")
    args = p.parse_args(argv)
    folder = soup(args.a, args.b, args.alpha, args.out)
    print(f"{folder}: (1 - {args.alpha:g}) x {args.a} + {args.alpha:g} x {args.b}")
    return folder


if __name__ == "__main__":
    main()
