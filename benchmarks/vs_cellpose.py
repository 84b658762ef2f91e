"""CPU time of `cellseg segment` against Cellpose on the same real images, interleaved, stage by stage.

    pip install "cellpose<4"      # Cellpose 3: the CPnet U-Net of cyto3 (Cellpose 4's SAM is far slower)
    python benchmarks/vs_cellpose.py [--repeat 1]

Cellpose's weights cannot be downloaded here, so its network runs with random initial weights (the
same arithmetic as trained ones). Its post-processing (flow following, mask building) is timed on the
flows of the images' ground-truth labels (``dynamics.labels_to_flows``), as a trained network would give
them, since random flows make no masks. Both get the objects' size: cellseg estimates it (its size
regression, included in its time); Cellpose is given the true median diameter (its size model needs the
weights). Per image and in total: network seconds, post-processing seconds, and the ratio of end-to-end
time, cellseg / Cellpose. Accuracy cannot be compared here (no Cellpose weights).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from cellseg.inference import Segmenter, _Ticker
from cellseg.io import read_image, read_labels
from cellseg.postprocess import classes_to_labels
from cellseg.size import median_diameter

DATA = Path(os.environ.get("CELLSEG_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
PAIRS = [
    ("ctc/Fluo-N2DH-GOWT1/02/t052.tif", "ctc/Fluo-N2DH-GOWT1/02_GT/SEG/man_seg052.tif"),
    ("ctc/Fluo-N2DL-HeLa/01/t013.tif", "ctc/Fluo-N2DL-HeLa/01_GT/SEG/man_seg013.tif"),
    ("ctc/Fluo-C2DL-MSC/02/t000.tif", "ctc/Fluo-C2DL-MSC/02_GT/SEG/man_seg000.tif"),
    ("ctc/Fluo-N2DH-SIM+/01/t055.tif", "ctc/Fluo-N2DH-SIM+/01_GT/SEG/man_seg055.tif"),
    ("folders/ecoli-trpL-phc/images/t000.tif", "folders/ecoli-trpL-phc/labels/t000.tif"),
]


def cellseg_times(seg: Segmenter, frame: np.ndarray) -> tuple[float, float]:
    t0 = time.perf_counter()
    chans = seg.channels(frame)
    ranges = seg.ranges(chans)
    classes = seg.classes(chans, _Ticker(0, None), seg.scale_for(chans, ranges), ranges)
    t1 = time.perf_counter()
    classes_to_labels(classes, min_size=seg.options.min_size)
    return t1 - t0, time.perf_counter() - t1


def cellpose_times(model, dynamics, frame: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    d = median_diameter(truth) or 30.0
    t0 = time.perf_counter()
    model.eval(frame, diameter=d, channels=[0, 0], compute_masks=False)
    t1 = time.perf_counter()
    # (4, Y, X): labels, cell probability, dY, dX
    flows = dynamics.labels_to_flows([truth.astype(np.int32)[None]], device=torch.device("cpu"))[0]
    cellprob = np.where(flows[1] > 0.5, 5.0, -5.0).astype(np.float32)
    t2 = time.perf_counter()
    dynamics.compute_masks(flows[2:].astype(np.float32) * 5, cellprob, niter=200, device=torch.device("cpu"))
    return t1 - t0, time.perf_counter() - t2


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--model", default="default")
    args = p.parse_args()
    from cellpose import dynamics, models

    seg = Segmenter(args.model, device="cpu")
    cp = models.CellposeModel(gpu=False, pretrained_model=None, model_type=None)
    frames = [(rel, read_image(DATA / rel)[0], read_labels(DATA / gt)) for rel, gt in PAIRS]
    cellseg_times(seg, frames[-1][1])  # warm-up
    cellpose_times(cp, dynamics, frames[-1][1], frames[-1][2])
    rows, total = [], np.zeros(4)
    for _ in range(args.repeat):
        for rel, frame, truth in frames:  # interleaved: the same machine state for both
            a = cellseg_times(seg, frame)
            b = cellpose_times(cp, dynamics, frame, truth)
            rows.append((rel, frame.size / 1e6, *a, *b))
            total += [*a, *b]
    print(
        f"torch threads {torch.get_num_threads()}, cellseg {args.model} (precision {seg.options.precision}), "
        "Cellpose 3 CPnet"
    )
    print("| image | MP | cellseg network s | cellseg post s | Cellpose network s | Cellpose post s | ratio |")
    print("|---|---|---|---|---|---|---|")
    for rel, mp, a_net, a_post, b_net, b_post in rows:
        ratio = (a_net + a_post) / (b_net + b_post)
        name = f"{Path(rel).parent.parent.name}/{Path(rel).name}"
        print(f"| {name} | {mp:.2f} | {a_net:.2f} | {a_post:.2f} | {b_net:.2f} | {b_post:.2f} | {ratio:.3f} |")
    a, b = total[:2].sum(), total[2:].sum()
    print(f"| total | | {total[0]:.2f} | {total[1]:.2f} | {total[2]:.2f} | {total[3]:.2f} | {a / b:.3f} |")
    print(f"cellseg takes {a / b:.3f} of Cellpose's CPU time end to end ({b / a:.1f}x faster)")


if __name__ == "__main__":
    main()
