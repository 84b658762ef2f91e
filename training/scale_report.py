"""Object-size acceptance: validation frames rescaled x0.5, x1 and x2 (labels the same way), SEG with
automatic size, with the true diameter given (``--diameter``, from the labels) and without size
handling, and the size estimate's error at every scale.

python -m cellseg.training.scale_report training/configs/ablation/all.yaml --model runs/ablation_all/best
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np

from cellseg.datasets import load_split
from cellseg.inference import Segmenter
from cellseg.metrics import evaluate_pair, pool
from cellseg.size import median_diameter

from .data import rescale, resolve_root
from .trainer import TrainConfig
from .validate import pick

FACTORS = (0.5, 1.0, 2.0)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config")
    p.add_argument("--model", required=True)
    p.add_argument("--max-frames", type=int, default=3, help="per dataset (default 3)")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)
    cfg = TrainConfig.from_yaml(args.config)
    root = resolve_root(cfg.data_root)
    seg = Segmenter(args.model, device="auto")
    if not seg.model_diameter:
        raise SystemExit(f"{args.model}: the model records no object_diameter (trained without size handling)")
    model_d = seg.model_diameter
    out: dict = {}
    for spec in cfg.dataset_specs():
        _, val = load_split(spec, root, seg.rgb)
        if not val:
            continue
        frames = pick(val, args.max_frames)
        row: dict = {"frames": len(frames), "errors": []}
        for f in FACTORS:
            runs: dict = {"auto": [], "given": [], "none": []}
            for s in frames:
                img, lab = s.image, s.labels
                if f != 1.0:
                    img, lab, _ = rescale(s.image.astype(np.float32), s.labels, np.zeros(s.labels.shape, bool), f)
                true_d = median_diameter(lab)
                seg.model_diameter = model_d
                runs["auto"].append(evaluate_pair(lab, seg.segment(img)))
                if true_d and seg.last_diameter:
                    row["errors"].append(math.log(seg.last_diameter / true_d))
                seg.options = seg.options.replace(diameter=true_d or 0.0)
                runs["given"].append(evaluate_pair(lab, seg.segment(img)))
                seg.options = seg.options.replace(diameter=0.0)
                seg.model_diameter = None  # the same network at the image's own scale
                runs["none"].append(evaluate_pair(lab, seg.segment(img)))
            for kind, results in runs.items():
                row[f"{kind} x{f:g}"] = pool(results)["SEG"]
        out[spec.name] = row
        seg.model_diameter = model_d
        print(
            spec.name,
            {k: round(v, 3) for k, v in row.items() if k.endswith(tuple(f"x{f:g}" for f in FACTORS))},
            flush=True,
        )
    cols = [f"{kind} x{f:g}" for kind in ("auto", "given", "none") for f in FACTORS]
    print("\n| dataset | frames | " + " | ".join(f"SEG {c}" for c in cols) + " | size error (median, max) |")
    print("|---|---|" + "---|" * len(cols) + "---|")
    for name, row in out.items():
        err = np.abs(np.expm1(row["errors"])) if row["errors"] else np.array([np.nan])
        cells = " | ".join(f"{row[c]:.3f}" for c in cols)
        print(f"| {name} | {row['frames']} | {cells} | {np.median(err):.0%}, {err.max():.0%} |")
    means = {c: float(np.mean([r[c] for r in out.values()])) for c in cols}
    print("| mean | | " + " | ".join(f"{means[c]:.3f}" for c in cols) + " | |")
    worst = max(abs(means["auto x0.5"] - means["auto x1"]), abs(means["auto x2"] - means["auto x1"]))
    print(f"largest change of the mean SEG with automatic size against x1: {worst:.3f} (acceptance: within 0.03)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"model_diameter": model_d, "datasets": out, "means": means}, fh, indent=1)
    return out


if __name__ == "__main__":
    main()
