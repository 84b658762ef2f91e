"""Does refining the size estimate (Cellpose's second stage) help? On training frames only: each frame's
diameter from its labels, from the model's size regression alone, and refined by segmenting a central crop at
that estimate (the ``size_refine`` option); the estimate's error and SEG at each.

    python benchmarks/size_refine.py [--model default] [--sets ...] [--frames 8]

Frames: the second half of each set's training split, evenly spread (as ``benchmarks/working_scale.py``), so
nothing here reads a validation frame. The model segments at its ``segment_diameter``. Error: the median over
frames of |log2(estimated / true)| (0.32 is a factor 1.25). SEG is pooled over objects as the CTC does.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from cellseg.inference import Segmenter
    from cellseg.metrics import evaluate_pair, pool
    from cellseg.options import SegmentOptions
    from cellseg.size import median_diameter
    from cellseg.training.data import shared_split
    from cellseg.training.report import trained_on
    from cellseg.training.validate import pick

    p = argparse.ArgumentParser()
    p.add_argument("--model", default="default")
    p.add_argument("--sets", nargs="+", default=trained_on("default"), help="default: the sets v1 trained on")
    p.add_argument("--frames", type=int, default=8)
    a = p.parse_args()
    seg = Segmenter(a.model, device="cpu")
    print(f"model {a.model}: segments at {seg.segment_diameter or seg.model_diameter:g} px")
    print("| set | objects | error, regression | error, refined | SEG true size | SEG regression | SEG refined |")
    print("|---|---|---|---|---|---|---|")
    cols, seconds = [], {"regression": 0.0, "refined": 0.0}
    for name in a.sets:
        train, _ = shared_split(name, seg.rgb)
        frames = pick(train[len(train) // 2 :], a.frames)
        errors = {"regression": [], "refined": []}
        results = {"true": [], "regression": [], "refined": []}
        for s in frames:
            true = median_diameter(s.labels)
            sizes = {"true": true}
            for kind, refine in (("regression", False), ("refined", True)):
                seg.options = SegmentOptions(size_refine=refine)
                t0 = time.perf_counter()
                sizes[kind] = seg.estimate(s.image)
                seconds[kind] += time.perf_counter() - t0
                if true and sizes[kind]:
                    errors[kind].append(abs(math.log2(sizes[kind] / true)))
            for kind, d in sizes.items():
                seg.options = SegmentOptions(diameter=d or 0.0)
                results[kind].append(evaluate_pair(s.labels, seg.segment(s.image)))
        segs = [pool(results[k])["SEG"] for k in ("true", "regression", "refined")]
        err = [float(np.median(errors[k])) if errors[k] else float("nan") for k in ("regression", "refined")]
        n = pool(results["true"])["n_ref"]
        cells = " | ".join(f"{v:.3f}" for v in segs)
        print(f"| {name} | {n} | {err[0]:.2f} | {err[1]:.2f} | {cells} |", flush=True)
        cols.append(err + segs)
    mean = [sum(c) / len(c) for c in zip(*cols)]
    print("| mean | | " + " | ".join(f"{m:.2f}" if i < 2 else f"{m:.3f}" for i, m in enumerate(mean)) + " |")
    print(
        f"estimate time: regression {seconds['regression']:.1f} s, refined {seconds['refined']:.1f} s "
        f"(all frames); {vars(a)}"
    )


if __name__ == "__main__":
    main()
