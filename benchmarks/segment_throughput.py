"""End-to-end throughput of `cellseg segment` on real shared images, stages timed separately.

    python benchmarks/segment_throughput.py [--model default] [--device cpu] [--repeat 2]

Prints megapixels per second for: read, network (normalize + tiled inference), post-processing,
write, and end to end.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from cellseg.inference import Segmenter
from cellseg.io import read_image, write_labels
from cellseg.options import DEFAULTS

DATA = Path(os.environ.get("CELLSEG_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
IMAGES = [
    "ctc/Fluo-N2DH-GOWT1/02/t052.tif",
    "ctc/Fluo-N2DL-HeLa/01/t013.tif",
    "ctc/Fluo-C2DL-MSC/02/t000.tif",
    "ctc/Fluo-N2DH-SIM+/01/t055.tif",
    "folders/ecoli-trpL-phc/images/t000.tif",
]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="default")
    p.add_argument("--device", default="cpu")
    p.add_argument("--tile", type=int, default=DEFAULTS.tile)
    p.add_argument("--batch", type=int, default=DEFAULTS.batch)
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args()
    seg = Segmenter(args.model, device=args.device, tile=args.tile, batch=args.batch)
    seg.segment(read_image(DATA / IMAGES[-1])[0])  # warm-up
    t = {"read": 0.0, "network": 0.0, "postprocess": 0.0, "write": 0.0}
    mpix = 0.0
    with tempfile.TemporaryDirectory() as out:
        for _ in range(args.repeat):
            for rel in IMAGES:
                t0 = time.perf_counter()
                frame = read_image(DATA / rel)[0]
                t1 = time.perf_counter()
                probs = seg.probabilities(frame)
                t2 = time.perf_counter()
                labels = seg.labels(probs)
                t3 = time.perf_counter()
                write_labels(Path(out) / "x.tif", labels)
                t4 = time.perf_counter()
                for k, a, b in (("read", t0, t1), ("network", t1, t2), ("postprocess", t2, t3), ("write", t3, t4)):
                    t[k] += b - a
                mpix += frame.size / 1e6
    total = sum(t.values())
    print(
        f"device {seg.device}, torch threads {torch.get_num_threads()}, model {args.model}, "
        f"tile {args.tile}, batch {args.batch}; {mpix:.1f} MP over {len(IMAGES)} real images x {args.repeat}"
    )
    for k, v in t.items():
        print(f"  {k:<12} {v:7.2f} s  {mpix / v:8.2f} MP/s  ({100 * v / total:4.1f}% of total)")
    print(f"  {'end-to-end':<12} {total:7.2f} s  {mpix / total:8.2f} MP/s")


if __name__ == "__main__":
    main()
