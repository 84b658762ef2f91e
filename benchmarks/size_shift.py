"""Whether a set's validation images hold cells of the size its training images do, and whether the model's
size estimate sees them: the true median diameter (from the labels) against the estimated one, per image.

    python benchmarks/size_shift.py [--sets Fluo-C2DL-MSC usiigaci-phc ecoli-trpL-phc] [--model default]

It also prints validation SEG with the estimated and with the true diameter, for the shipped model or a
fine-tuned one (``--model``; fine-tuning keeps the base model's size estimate, the encoder being frozen):
whether a miss of the estimate is what limits SEG on a set.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from cellseg.inference import Segmenter
    from cellseg.size import median_diameter
    from cellseg.training.data import shared_split
    from cellseg.training.validate import validate

    p = argparse.ArgumentParser()
    p.add_argument("--sets", nargs="+", default=["Fluo-C2DL-MSC", "usiigaci-phc", "ecoli-trpL-phc"])
    p.add_argument("--model", default="default")
    a = p.parse_args()
    seg = Segmenter(a.model, device="cpu")
    print("| set | split | images | true diameter, median (range) | true / estimated, median (range) |")
    print("|---|---|---|---|---|")
    for name in a.sets:
        train, val = shared_split(name, seg.rgb)
        for split, samples in (("training", train), ("validation", val)):
            true = np.array([median_diameter(s.labels) for s in samples], float)
            est = np.array([seg.estimate(s.image) or np.nan for s in samples], float)
            r = true / est
            print(
                f"| {name} | {split} | {len(samples)} | {np.median(true):.0f} ({true.min():.0f}-{true.max():.0f}) | "
                f"{np.nanmedian(r):.2f} ({np.nanmin(r):.2f}-{np.nanmax(r):.2f}) |",
                flush=True,
            )
        est_seg = validate(seg, {name: val})[name]["SEG"]
        true_seg = validate(seg, {name: val}, given_size=True)[name]["SEG"]
        print(f"| {name} | validation SEG | estimated diameter {est_seg:.3f} | true diameter {true_seg:.3f} | |")


if __name__ == "__main__":
    main()
