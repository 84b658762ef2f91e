"""Fine-tuning on a few of a user's images: SEG and AP50 on the rest before and after, minutes on this CPU.

    python benchmarks/finetune.py [--sets ecoli-trpL-phc usiigaci-phc Fluo-C2DL-MSC] [--sizes 1 3 10]
                                  [--minutes 5] [--base default] [--train-encoder] [--lr 1e-3]
                                  [--protocol test|dev|within] [--keep DIR] [--drop F [--sparse]]
                                  [--train-diameter segment|pipeline|PX] [--steps N] [--holdout images|bands]

For each shared set (training/configs/ablation/base.yaml: the shipped model's corpus), the user's
images are k images of the set's training split (evenly spread; the shipped model saw them in training,
so the gain is what correcting its output on familiar images buys) and the test images are the set's
whole validation split, which no model trained on. Each row runs ``cellseg finetune``'s code path (the
images written as files and paired, the user's own validation split held out of them, the guard) for
``--minutes``, then scores the base model, the fine-tuned one (when one was saved) and the classical
baseline on the test images, segmenting them as ``cellseg segment`` does (diameter estimated).

``--protocol dev`` chooses a recipe without touching any validation frame: the user's images are the first
k images of the training split's first half, the test images its second half (evenly spread, at most 8).
Recipe choices (learning rate, encoder mode, minutes) are made on dev figures; ``test`` reports them.
``--protocol within`` is a user's own new experiment: they correct k images of the set's validation split
(which the shipped model never saw) and segment the rest of it (k + 2 images at least). The user's images
are always frames whose ground truth labels every cell, as a user's corrected masks do.
``--drop F`` plays a user who labelled only some cells: a fraction F of each user image's cells (drawn
at random, fixed seed) is erased from its labels; ``--sparse`` fine-tunes with ``cellseg finetune --sparse``.
``--holdout bands`` validates the guard on the last 30% of every user image instead of on a quarter of the images.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def scores(segment, samples) -> tuple[float, float]:
    from cellseg.training.validate import validate

    s = validate(segment, {"test": samples})["test"]
    return s["SEG"], s["AP50"]


PROTOCOLS = {
    "test": "user images: k of the training split; test images: the whole validation split",
    "dev": "user images: k of the training split's first half; test images: its second half (at most 8)",
    "within": "user images: k of the validation split (unseen by the shipped model); test images: the rest of it",
}


def protocol_split(protocol: str, train: list, val: list, k: int) -> tuple[list, list]:
    """(the user's images, the test images) of one set for ``k`` user images; ([], []) when too few.

    The user's images are drawn from frames whose ground truth labels every cell (a user's corrected
    masks do; a sparse frame, whose unlabelled cells are unknown, would teach them as background once
    written as a label file); the test images keep their ignore masks and may be sparse."""
    from cellseg.training.validate import pick

    if protocol == "dev":  # training frames only: user images from the first half, test on the second
        half = len(train) // 2
        pool, test = train[:half], pick(train[half:], 8)
    elif protocol == "within":  # the user's own new experiment: they correct k images and segment the rest
        pool, test = val, val
    else:
        pool, test = train, val
    pool = [s for s in pool if s.complete]
    user = pick(pool, k) if k <= len(pool) else []
    names = {s.name for s in user}
    test = [s for s in test if s.name not in names]
    return (user, test) if user and len(test) >= 2 else ([], [])


def write_user_images(samples: list, folder: Path) -> tuple[Path, Path]:
    """The user's images as files, the way ``cellseg finetune`` reads them: (FOLDER/images, FOLDER/labels),
    each sample as STEM.tif in both."""
    images, labels = folder / "images", folder / "labels"
    images.mkdir()
    labels.mkdir()
    for s in samples:
        stem = s.name.replace("/", "_")
        tifffile.imwrite(images / f"{stem}.tif", s.image.astype(np.float32))
        tifffile.imwrite(labels / f"{stem}.tif", s.labels.astype(np.uint16))
    return images, labels


def _log_sparse(line: str) -> None:
    """finetune's lines about sparse labels (its warning, or what --sparse ignored), to stderr."""
    if line.startswith("warning") or line.startswith("sparse"):
        print(f"  {line}", file=sys.stderr)


def drop_labels(samples: list, fraction: float, seed: int = 0) -> list:
    """The samples with a ``fraction`` of each one's labelled cells erased (as never labelled)."""
    from dataclasses import replace

    out = []
    for i, s in enumerate(samples):
        rng = np.random.default_rng([seed, i])
        ids = np.unique(s.labels[s.labels > 0])
        gone = ids[rng.permutation(len(ids))[: int(round(fraction * len(ids)))]]
        out.append(replace(s, labels=np.where(np.isin(s.labels, gone), 0, s.labels)))
    return out


def _train_diameter(text: str) -> str | float:
    """--train-diameter's value: 'segment', 'pipeline' or a positive number of pixels (argparse prints one line
    otherwise)."""
    if text in ("segment", "pipeline"):
        return text
    try:
        px = float(text)
    except ValueError:
        px = 0.0
    if not px > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not 'segment', 'pipeline' or a positive number of pixels")
    return px


def main() -> None:
    from cellseg.baseline import otsu_watershed
    from cellseg.inference import Segmenter
    from cellseg.training.data import shared_split
    from cellseg.training.finetune import BATCH, LR, finetune, pairs

    p = argparse.ArgumentParser()
    p.add_argument("--sets", nargs="+", default=["ecoli-trpL-phc", "usiigaci-phc", "Fluo-C2DL-MSC"])
    p.add_argument("--sizes", type=int, nargs="+", default=[1, 3, 10])
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--base", default="default")
    p.add_argument("--train-encoder", action="store_true")
    p.add_argument("--lr", type=float, default=LR, help="peak learning rate")
    p.add_argument("--protocol", choices=["test", "dev", "within"], default="test")
    p.add_argument("--keep", type=Path, help="keep each saved model in this folder (as SET_kK)")
    p.add_argument("--batch", type=int, default=BATCH, help="crops a step")
    p.add_argument("--drop", type=float, default=0.0, help="erase this fraction of each user image's cells")
    p.add_argument("--sparse", action="store_true", help="fine-tune with --sparse (unlabelled cells ignored)")
    p.add_argument(
        "--train-diameter",
        type=_train_diameter,
        help="object diameter of the training crops: pixels, 'segment' (the base's segment_diameter) or 'pipeline' "
        "(each image at the scale segment gives it, validated at estimated sizes); default: the base's object_diameter",
    )
    p.add_argument("--steps", type=int, help="end each run after this many steps (else --minutes)")
    p.add_argument(
        "--holdout",
        choices=["images", "bands"],
        default="images",
        help="what the guard validates on: a quarter of the user's images, or the last 30%% of each",
    )
    a = p.parse_args()
    base = Segmenter(a.base, device="cpu")
    print("| set | images | base SEG | tuned SEG | baseline SEG | base AP50 | tuned AP50 | minutes | saved |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in a.sets:
        train, val = shared_split(name, base.rgb)
        scored = {}  # test images' names -> (base SEG, base AP50, baseline SEG)
        for k in a.sizes:
            user, test = protocol_split(a.protocol, train, val, k)
            if not user:
                print(f"| {name} | {k} | (too few images: {len(train)} training, {len(val)} validation) |")
                continue
            key = tuple(s.name for s in test)
            if key not in scored:
                scored[key] = (*scores(base, test), scores(otsu_watershed, test)[0])
            b_seg, b_ap, c_seg = scored[key]
            with tempfile.TemporaryDirectory() as tmp:
                tmp = Path(tmp)
                t0 = time.perf_counter()
                r = finetune(
                    pairs(*write_user_images(drop_labels(user, a.drop) if a.drop else user, tmp)),
                    tmp / "model",
                    a.base,
                    minutes=a.minutes if not a.steps else 10**6,
                    train_encoder=a.train_encoder,
                    lr=a.lr,
                    sparse=a.sparse,
                    batch=a.batch,
                    steps=a.steps,
                    diameter=a.train_diameter,
                    holdout=a.holdout,
                    log=_log_sparse,
                )
                minutes = (time.perf_counter() - t0) / 60
                if a.keep is not None and r.saved is not None:
                    shutil.copytree(r.saved, a.keep / f"{name}_k{k}", dirs_exist_ok=True)
                if r.saved is not None:
                    t_seg, t_ap = scores(Segmenter(r.saved, device="cpu"), test)
                else:
                    t_seg, t_ap = b_seg, b_ap  # nothing beat the base: the user keeps it
            print(
                f"| {name} | {k} | {b_seg:.3f} | {t_seg:.3f} | {c_seg:.3f} | {b_ap:.3f} | {t_ap:.3f} | "
                f"{minutes:.1f} | {'yes' if r.saved else 'no (kept the base)'} |",
                flush=True,
            )
    print(f"protocol {a.protocol}: {PROTOCOLS[a.protocol]}; minutes: the whole finetune call; {vars(a)}")


if __name__ == "__main__":
    main()
