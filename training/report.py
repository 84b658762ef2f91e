"""Model card figures: validation SEG / DET / AP50 per dataset for a model and the classical baseline.

python -m cellseg.training.report training/configs/universal_cpu.yaml --model default
python -m cellseg.training.report training/configs/generalist_v2.yaml --model CANDIDATE --against default

``--against``: also score the current default on the same frames and apply the shipping rule (issue 13):
a candidate replaces it only if it beats it on every validation set both were trained on, and beats the
classical baseline on every set the default never trained on (:func:`ship_verdict`).
"""

from __future__ import annotations

import argparse
import json
import time

from cellseg.baseline import otsu_watershed
from cellseg.datasets import load_split
from cellseg.inference import Segmenter
from cellseg.modelfile import read_model_config

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
    p.add_argument("--size-refine", action="store_true", help="refine the estimated sizes (SegmentOptions.size_refine)")
    p.add_argument("--packed", help="read the validation frames from this data pack (training/pack.py)")
    p.add_argument("--no-baseline", action="store_true", help="skip the classical baseline")
    p.add_argument("--against", help="also score this model (the current default) and say whether --model ships")
    args = p.parse_args(argv)
    if args.against and args.no_baseline:
        p.error("--against needs the baseline (the rule compares new sets with it)")
    cfg = TrainConfig.from_yaml(args.config)
    opts = dict(device="auto", precision=args.precision, tta=args.tta, size_refine=args.size_refine)
    seg = Segmenter(args.model, onnx=args.onnx, **opts)
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
    if args.against:
        ref = validate(
            Segmenter(args.against, **opts),
            val_sets,
            args.max_frames,
            given_size=args.given_size,
        )
        shared = set(trained_on(args.model)) & set(trained_on(args.against))
        ships, lines = ship_verdict(model, ref, base, shared)
        print(f"\n| dataset | {args.model} SEG | {args.against} SEG | change | baseline SEG | rule |")
        print("|---|---|---|---|---|---|")
        print("\n".join(lines))
        print(
            f"verdict: {args.model} {'SHIPS' if ships else 'does not ship'} (the rule: beat {args.against} on each "
            f"of the {len(shared & set(model))} sets both trained on, and the baseline on the others)"
        )
        out.update(against=ref, ships=ships)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return out


def trained_on(model: str) -> list[str]:
    """The datasets a model file says it was trained on (its config's training.datasets)."""
    return list(read_model_config(model).get("training", {}).get("datasets", {}))


def ship_verdict(model: dict, against: dict, baseline: dict, shared: set) -> tuple[bool, list[str]]:
    """(whether ``model`` may replace ``against``, one table row per set): on each set in ``shared`` it must
    score a higher SEG than ``against``; on every other set a higher SEG than the classical ``baseline``."""
    ok, rows = True, []
    for name, m in model.items():
        a, b = against[name]["SEG"], baseline[name]["SEG"]
        if name in shared:
            passed, rule = m["SEG"] > a, "beat the default"
        else:
            passed, rule = m["SEG"] > b, "new set: beat the baseline"
        ok &= passed
        rows.append(
            f"| {name} | {m['SEG']:.3f} | {a:.3f} | {m['SEG'] - a:+.3f} | {b:.3f} | {rule}: "
            f"{'yes' if passed else '**no**'} |"
        )
    return ok, rows


if __name__ == "__main__":
    main()
