"""Model card figures: validation SEG / DET / AP50 per dataset for a model and the classical baseline.

python -m cellseg.training.report training/configs/universal_cpu.yaml --model default
"""

from __future__ import annotations

import argparse
import json
import time

from cellseg.baseline import otsu_watershed
from cellseg.datasets import load_split
from cellseg.inference import Segmenter

from .data import resolve_root
from .pack import load_packed
from .trainer import TrainConfig
from .validate import validate


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config")
    p.add_argument("--model", default="default")
    p.add_argument("--max-frames", type=int, default=None, help="per dataset (default: all validation frames)")
    p.add_argument("--json", help="also write the figures here")
    p.add_argument("--precision", default="auto", help="auto, fp32 or bf16 (SegmentOptions.precision)")
    p.add_argument("--onnx", default="", help="run the network from this exported ONNX file (cellseg export)")
    p.add_argument("--tta", action="store_true", help="average the network over flips (SegmentOptions.tta)")
    p.add_argument("--given-size", action="store_true", help="give each frame its label median diameter")
    p.add_argument("--packed", help="read the validation frames from this data pack (training/pack.py)")
    p.add_argument("--no-baseline", action="store_true", help="skip the classical baseline")
    args = p.parse_args(argv)
    cfg = TrainConfig.from_yaml(args.config)
    seg = Segmenter(args.model, device="auto", precision=args.precision, onnx=args.onnx, tta=args.tta)
    val_sets = {}
    for spec in cfg.dataset_specs():
        if args.packed:
            _, val = load_packed(args.packed, spec.name, cfg)
        else:  # colour images read as this model was trained to see them
            _, val = load_split(spec, resolve_root(cfg.data_root), seg.rgb)
        if val:
            val_sets[spec.name] = val
    t0 = time.time()
    model = validate(seg, val_sets, args.max_frames, given_size=args.given_size)
    t1 = time.time()
    nothing = {"SEG": float("nan"), "DET": float("nan"), "AP50": float("nan")}
    base = {k: nothing for k in val_sets} if args.no_baseline else validate(otsu_watershed, val_sets, args.max_frames)
    print(
        "| dataset | frames | objects | model SEG | baseline SEG | model DET | baseline DET | model AP50 "
        "| baseline AP50 |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in val_sets:
        m, b = model[name], base[name]
        print(
            f"| {name} | {m['frames']} | {m['n_ref']} | **{m['SEG']:.3f}** | {b['SEG']:.3f} | {m['DET']:.3f} | "
            f"{b['DET']:.3f} | {m['AP50']:.3f} | {b['AP50']:.3f} |"
        )
    mean = lambda d: sum(v["SEG"] for v in d.values()) / len(d)  # noqa: E731
    print(f"| mean | | | **{mean(model):.3f}** | {mean(base):.3f} | | | | |")
    print(f"model inference + post-processing: {t1 - t0:.0f} s for all validation frames")
    out = {"model": model, "baseline": base}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
