"""Fit a model's size regression (object diameter from its encoder's features) on the training splits.

python -m cellseg.training.size_fit training/configs/ablation/all.yaml --model runs/ablation_all/best

Every training image of every set is shown at random magnifications (its median object diameter, from
its labels, drawn log-uniformly within ``DIAMETERS`` and at most ``MAX_ZOOM`` times its own), the same
number of views per set. :func:`cellseg.size.size_features` describes each view; a ridge regression
predicts the log diameter. The ridge strength is chosen by leave-one-dataset-out error (how well the
size of an unseen kind of image is judged), then the regression is fitted on all sets and written into
the model's JSON as ``size_model``. Validation frames are never looked at.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from cellseg.datasets import load_split
from cellseg.inference import Segmenter
from cellseg.modelfile import model_paths, write_model_config
from cellseg.size import FEATURE_CROP, FEATURE_SCALES, SizeRegression, central_region, median_diameter, size_features

from .data import rescale, resolve_root
from .trainer import TrainConfig

#: object diameters (pixels) of the views the regression learns from, and the largest zoom either way
DIAMETERS = (8.0, 240.0)
MAX_ZOOM = 4.0
ALPHAS = (1.0, 10.0, 100.0, 1e3, 1e4, 1e5)


def view_factors(d: float, n: int, rng) -> np.ndarray:
    """``n`` magnifications of an image whose median object diameter is ``d``."""
    lo = max(DIAMETERS[0] / d, 1 / MAX_ZOOM)
    hi = min(DIAMETERS[1] / d, MAX_ZOOM)
    if lo > hi:
        lo = hi = float(np.clip(30.0 / d, 1 / MAX_ZOOM, MAX_ZOOM))
    return np.exp(rng.uniform(math.log(lo), math.log(hi), n))


def view_features(seg: Segmenter, image: np.ndarray, f: float) -> np.ndarray:
    """Size features of ``image`` magnified ``f`` times, as the Segmenter would compute them."""
    chans = seg.channels(image)
    ranges = seg.ranges(chans)
    side = math.ceil(FEATURE_CROP / min(FEATURE_SCALES) / f) + 2
    region = central_region(image.shape, side)
    crop = image[region].astype(np.float32)
    if f != 1.0:
        crop, _, _ = rescale(crop, np.zeros(crop.shape, np.int32), np.zeros(crop.shape, bool), f)
    return size_features(seg.normalized(seg.channels(crop), ranges=ranges), seg.model.unet.encoder, seg.device)


def lodo_errors(x, y, groups, alpha) -> dict:
    """Per left-out set: median and 90th percentile of |relative diameter error|."""
    out = {}
    for g in sorted(set(groups)):
        held = groups == g
        reg = SizeRegression.train(x[~held], y[~held], alpha)
        err = np.abs(np.expm1(np.array([math.log(reg.diameter(v)) for v in x[held]]) - np.log(y[held])))
        out[g] = (float(np.median(err)), float(np.percentile(err, 90)))
    return out


def collect_views(cfg, root, seg: Segmenter, views: int, seed: int):
    """(features, diameters, dataset names) of ``views`` magnified views of every set's training images."""
    rng = np.random.default_rng(seed)
    feats, diams, groups = [], [], []
    for spec in cfg.dataset_specs():
        train, _ = load_split(spec, root, seg.rgb)
        known = [(s, median_diameter(s.labels)) for s in train]
        known = [(s, d) for s, d in known if d]
        if not known:
            continue
        order = rng.permutation(np.resize(np.arange(len(known)), views))
        for i in order:
            s, d = known[i]
            f = float(view_factors(d, 1, rng)[0])
            feats.append(view_features(seg, s.image, f))
            diams.append(d * f)
            groups.append(spec.name)
        native = np.median([d for _, d in known])
        print(f"{spec.name}: {views} views of {len(known)} images, native diameter {native:.1f}", flush=True)
    return np.array(feats), np.array(diams), np.array(groups)


def fit_size_model(cfg: TrainConfig, model, views: int = 160, seed: int = 0, views_file=None) -> SizeRegression:
    """Fit the size regression of ``model`` (a model folder) on ``cfg``'s training splits and write it
    into the model's JSON; prints the leave-one-dataset-out table."""
    root = resolve_root(cfg.data_root)
    seg = Segmenter(model, device="auto")
    if views_file and Path(views_file).is_file():
        with np.load(views_file) as z:
            x, y, groups = z["x"], z["y"], z["groups"]
    else:
        x, y, groups = collect_views(cfg, root, seg, views, seed)
        if views_file:
            np.savez(views_file, x=x, y=y, groups=groups)
    table = {a: lodo_errors(x, y, groups, a) for a in ALPHAS}
    score = {a: float(np.mean([m for m, _ in t.values()])) for a, t in table.items()}
    alpha = min(score, key=score.get)
    print("\nleave-one-dataset-out |diameter error|, median (90th percentile), by ridge strength:")
    print("| set | " + " | ".join(f"alpha {a:g}" for a in ALPHAS) + " |")
    print("|---|" + "---|" * len(ALPHAS))
    for g in sorted(set(groups)):
        print(f"| {g} | " + " | ".join(f"{table[a][g][0]:.0%} ({table[a][g][1]:.0%})" for a in ALPHAS) + " |")
    print("| mean of medians | " + " | ".join(f"{score[a]:.0%}" for a in ALPHAS) + " |")
    fit = {
        "alpha": alpha,
        "views": int(len(y)),
        "datasets": sorted(set(groups)),
        "lodo_median_error": {g: round(table[alpha][g][0], 3) for g in sorted(set(groups))},
    }
    reg = SizeRegression.train(x, y, alpha, fit=fit)
    _, cfg_path = model_paths(model)
    meta = json.loads(Path(cfg_path).read_text())
    meta["size_model"] = reg.to_dict()
    write_model_config(cfg_path, meta)
    print(f"alpha {alpha:g}: size_model written into {cfg_path}")
    return reg


def main(argv=None) -> SizeRegression:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config")
    p.add_argument("--model", required=True, help="model folder; its config.json gets the size_model entry")
    p.add_argument("--views", type=int, default=160, help="magnified views per dataset (default 160)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--views-file", help="keep the views' features here (.npz) and reuse them when present")
    args = p.parse_args(argv)
    cfg = TrainConfig.from_yaml(args.config)
    return fit_size_model(cfg, args.model, args.views, args.seed, args.views_file)


if __name__ == "__main__":
    main()
