"""End-to-end throughput of `cellseg segment` on real shared images, stages timed separately, for each
arithmetic path of the network.

    python benchmarks/segment_throughput.py [--model default] [--device cpu] [--repeat 2]
        [--variants fp32-contiguous,fp32,bf16]

Variants: ``fp32-contiguous`` (fp32, NCHW memory layout: the path before channels_last), ``fp32``
(channels_last), ``bf16`` (channels_last + bf16 autocast), ``onnx`` and ``int8`` (onnxruntime, from
``--onnx`` / ``--int8`` files made by ``cellseg export``). For each it prints seconds and megapixels
per second of: read, size (the diameter estimate), network (normalize + tiled inference at the
estimated scale), post-processing, write, and end to end, and the share of each in the total.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from cellseg.inference import Segmenter, _Ticker
from cellseg.io import read_image, write_labels
from cellseg.options import DEFAULTS
from cellseg.postprocess import classes_to_labels

DATA = Path(os.environ.get("CELLSEG_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
IMAGES = [
    "ctc/Fluo-N2DH-GOWT1/02/t052.tif",
    "ctc/Fluo-N2DL-HeLa/01/t013.tif",
    "ctc/Fluo-C2DL-MSC/02/t000.tif",
    "ctc/Fluo-N2DH-SIM+/01/t055.tif",
    "folders/ecoli-trpL-phc/images/t000.tif",
]
VARIANTS = {
    "fp32-contiguous": {"precision": "fp32", "channels_last": False},
    "fp32": {"precision": "fp32", "channels_last": True},
    "bf16": {"precision": "bf16", "channels_last": True},
    "onnx": {"precision": "fp32", "channels_last": True},  # --onnx FILE
    "int8": {"precision": "fp32", "channels_last": True},  # --int8 FILE
}


def run(seg: Segmenter, repeat: int, out: str) -> tuple[dict, float]:
    t = {"read": 0.0, "size": 0.0, "network": 0.0, "postprocess": 0.0, "write": 0.0}
    mpix = 0.0
    for _ in range(repeat):
        for rel in IMAGES:
            t0 = time.perf_counter()
            frame = read_image(DATA / rel)[0]
            chans = seg.channels(frame)
            ranges = seg.ranges(chans)
            t1 = time.perf_counter()
            scale = seg.scale_for(chans, ranges)
            t2 = time.perf_counter()
            classes = seg.classes(chans, _Ticker(0, None), scale, ranges)
            t3 = time.perf_counter()
            labels = classes_to_labels(classes, min_size=seg.options.min_size)
            t4 = time.perf_counter()
            write_labels(Path(out) / "x.tif", labels)
            t5 = time.perf_counter()
            for k, a, b in (("read", t0, t1), ("size", t1, t2), ("network", t2, t3), ("postprocess", t3, t4)):
                t[k] += b - a
            t["write"] += t5 - t4
            mpix += frame.size / 1e6
    return t, mpix


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="default")
    p.add_argument("--device", default="cpu")
    p.add_argument("--tile", type=int, default=DEFAULTS.tile)
    p.add_argument("--batch", type=int, default=DEFAULTS.batch)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--variants", default="fp32-contiguous,fp32,bf16")
    p.add_argument("--onnx", default="", help="exported network (cellseg export) for the onnx variant")
    p.add_argument("--int8", default="", help="int8 network (cellseg export --int8) for the int8 variant")
    args = p.parse_args()
    print(
        f"device {args.device}, torch threads {torch.get_num_threads()}, model {args.model}, "
        f"tile {args.tile}, batch {args.batch}"
    )
    with tempfile.TemporaryDirectory() as out:
        for name in args.variants.split(","):
            v = VARIANTS[name]
            onnx = {"onnx": args.onnx, "int8": args.int8}.get(name, "")
            seg = Segmenter(
                args.model, device=args.device, tile=args.tile, batch=args.batch, precision=v["precision"], onnx=onnx
            )
            seg.channels_last = v["channels_last"]
            if not v["channels_last"]:
                seg.model = seg.model.to(memory_format=torch.contiguous_format)
            seg.segment(read_image(DATA / IMAGES[-1])[0])  # warm-up
            t, mpix = run(seg, args.repeat, out)
            total = sum(t.values())
            print(f"{name}: {mpix:.1f} MP over {len(IMAGES)} real images x {args.repeat}")
            for k, s in t.items():
                print(f"  {k:<12} {s:7.2f} s  {mpix / s:8.2f} MP/s  ({100 * s / total:4.1f}% of total)")
            print(f"  {'end-to-end':<12} {total:7.2f} s  {mpix / total:8.2f} MP/s")


if __name__ == "__main__":
    main()
