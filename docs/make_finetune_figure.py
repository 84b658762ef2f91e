"""The README's fine-tuning picture: before (the shipped model), corrected (the labels a user would draw; here
the set's ground truth), after (the model fine-tuned on three other corrected images), on an image of a set's
validation split that no model trained on.

    python docs/make_finetune_figure.py [--set ecoli-trpL-phc] [--minutes 5]   # docs/figures/finetune.png

The three training images are the set's training-split images the benchmark uses for k = 3
(benchmarks/finetune.py); the fine-tuning runs `cellseg finetune` itself.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import imageio.v3 as iio
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def caption(rgb: np.ndarray, text: str) -> np.ndarray:
    from PIL import Image, ImageDraw

    im = Image.fromarray(rgb)
    ImageDraw.Draw(im).text((10, 8), text, fill=(255, 255, 255))
    return np.asarray(im)


def main() -> None:
    from cellseg.inference import Segmenter
    from cellseg.metrics import evaluate_pair
    from cellseg.outputs import outline_overlay
    from cellseg.training.data import shared_split

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from finetune import protocol_split, write_user_images  # the benchmark's k = 3 images, written as it does

    p = argparse.ArgumentParser()
    p.add_argument("--set", default="ecoli-trpL-phc")
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--frame", type=int, default=0, help="which validation image to show")
    a = p.parse_args()
    base = Segmenter("default", device="cpu")
    train, test = shared_split(a.set, base.rgb)
    user, _ = protocol_split("test", train, test, 3)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        images, labels = write_user_images(user, tmp)
        cmd = [sys.executable, "-m", "cellseg", "finetune", str(images), str(labels)]
        subprocess.run([*cmd, "-o", str(tmp / "model"), "--minutes", str(a.minutes), "-q"], check=True)
        tuned = Segmenter(tmp / "model", device="cpu")
        sample = test[a.frame]
        before, after = base.segment(sample.image), tuned.segment(sample.image)
    cy, cx = np.argwhere(sample.labels > 0).mean(0).astype(int)  # a window around the cells, enlarged 2x
    half = 160
    ys = slice(max(cy - half, 0), cy + half)
    xs = slice(max(cx - half, 0), cx + half)
    panels = []
    for lab, title in ((before, "before (shipped model)"), (sample.labels, "corrected"), (after, "after fine-tuning")):
        panel = outline_overlay(sample.image, lab)[ys, xs].repeat(2, 0).repeat(2, 1)
        panels.append(caption(panel, title))
    gap = np.full((panels[0].shape[0], 8, 3), 255, np.uint8)
    out = ROOT / "docs" / "figures" / "finetune.png"
    iio.imwrite(out, np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1))
    for name, lab in (("before", before), ("after", after)):
        print(f"{name}: SEG {evaluate_pair(sample.labels, lab)['SEG']:.3f} on {sample.name}")
    print(out)


if __name__ == "__main__":
    main()
