"""Dim nuclei beside bright ones, dense against sparse fields, and image borders: figures and crops.

python benchmarks/input_robustness.py --before /path/to/old_model --after default [--figures docs/figures]

Built from the shipped sample (cellseg/samples/nuclei_dsb2018.tif and its labels: no training or
validation split holds it), so it runs from the clone alone:
- dim: 40% of the nuclei (random, seed 0) dimmed to 15% of their contrast while the rest are made
  3x brighter and clipped (saturated), background unchanged; recall = dimmed nuclei found (IoU >= 0.5).
- dense / sparse: every nucleus of the sample pasted (its own pixels only, on the sample's background
  level with noise) into a grid, touching (pitch = the median nucleus box, so neighbours touch and
  larger ones overlap) or spaced (the largest box plus 24 px); SEG, recall and precision of each field.
  A model whose normalization depends on how much of the image is cells
  does worse on the dense field.
- borders: 24 crops of 160x160 at random offsets (seed 0) cut nuclei at their edges; recall of the
  nuclei cut by a crop edge (kept whole = matched with IoU >= 0.5 within the crop) and false objects
  touching an edge (matching no reference nucleus at IoU >= 0.2).
Crops of each case (image | before | after) go to ``--figures`` as PNG.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cellseg.inference import Segmenter
from cellseg.io import read_image, read_labels
from cellseg.metrics import evaluate_pair

SAMPLES = Path(__file__).resolve().parents[1] / "cellseg" / "samples"


def matched(ref: np.ndarray, res: np.ndarray, iou: float = 0.5) -> tuple[set, set]:
    """(reference ids, result ids) matched one to one at IoU >= iou."""
    from cellseg.matching import match_by_iou, overlap

    ov = overlap(ref, res)
    rows, cols = match_by_iou(ov.iou(), iou)
    return {int(i) for i in ov.ref_ids[rows]}, {int(j) for j in ov.res_ids[cols]}


def dim_field(img, lab, rng):
    ids = np.unique(lab)[1:]
    dim = ids[rng.random(len(ids)) < 0.4]
    bg = float(np.median(img[lab == 0]))
    top = float(img.max())
    out = img.astype(np.float32).copy()
    bright = (lab > 0) & ~np.isin(lab, dim)
    out[bright] = np.clip(bg + (img[bright] - bg) * 3.0, 0, top)
    mask = np.isin(lab, dim)
    out[mask] = bg + (img[mask] - bg) * 0.15
    return out.astype(np.float32), set(int(i) for i in dim)


def packed_field(img, lab, dense: bool, rng):
    """Every nucleus pasted (its own pixels only) on the background level, on a grid whose pitch is the
    median nucleus box (dense: neighbours touch, larger ones overlap and the later one wins) or the
    largest box plus 24 px (sparse)."""
    from scipy import ndimage as ndi

    boxes = ndi.find_objects(lab)
    items = [(i + 1, b) for i, b in enumerate(boxes) if b is not None]
    hs = [b[0].stop - b[0].start for _, b in items]
    ws = [b[1].stop - b[1].start for _, b in items]
    h, w = (int(np.median(hs)), int(np.median(ws))) if dense else (max(hs), max(ws))
    gap = 0 if dense else 24
    cols = int(np.ceil(np.sqrt(len(items))))
    rows = int(np.ceil(len(items) / cols))
    bg, noise = float(np.median(img[lab == 0])), float(np.std(img[lab == 0]))
    H, W = rows * (h + gap) + gap + max(hs), cols * (w + gap) + gap + max(ws)
    out = (bg + rng.normal(0, noise, (H, W))).astype(np.float32)
    labels = np.zeros((H, W), np.int32)
    for k, (i, (sy, sx)) in enumerate(items):
        y0, x0 = gap + (k // cols) * (h + gap), gap + (k % cols) * (w + gap)
        m = lab[sy, sx] == i
        ys, xs = np.nonzero(m)
        out[y0 + ys, x0 + xs] = img[sy, sx][m]
        labels[y0 + ys, x0 + xs] = k + 1
    return out, labels


def relabel_pieces(labels):
    """Objects partly covered by a later one can fall apart: each connected piece its own id, specks
    under 20 px dropped (the reference must hold whole, connected objects)."""
    from skimage.measure import label

    out = np.zeros_like(labels)
    n = 0
    for i in np.unique(labels)[1:]:
        pieces = label(labels == i)
        for j in range(1, pieces.max() + 1):
            m = pieces == j
            if m.sum() >= 20:
                n += 1
                out[m] = n
    return out


def border_crops(img, lab, rng, n=24, side=160):
    for _ in range(n):
        y, x = int(rng.integers(0, img.shape[0] - side)), int(rng.integers(0, img.shape[1] - side))
        yield img[y : y + side, x : x + side], lab[y : y + side, x : x + side]


def touching_edge(lab: np.ndarray) -> set:
    edge = np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])
    return set(int(i) for i in np.unique(edge) if i)


def measure(seg: Segmenter, img, lab) -> dict:
    rng = np.random.default_rng(0)
    out: dict = {}
    dimmed, dim_ids = dim_field(img, lab, rng)
    res = seg.segment(dimmed)
    found, _ = matched(lab, res)
    out["dim recall"] = len(found & dim_ids) / len(dim_ids)
    out["bright recall"] = len(found - dim_ids) / max(1, len(set(np.unique(lab)[1:].tolist()) - dim_ids))
    out["_dim"] = (dimmed, res)
    for name in ("dense", "sparse"):
        field_img, field_lab = packed_field(img, lab, name == "dense", np.random.default_rng(1))
        field_lab = relabel_pieces(field_lab)
        res = seg.segment(field_img)
        e = evaluate_pair(field_lab, res)
        out[f"{name} SEG"] = e["SEG"]
        out[f"{name} recall"] = e["_tp"] / max(1, e["n_ref"])
        out[f"{name} precision"] = e["_tp"] / max(1, e["n_res"])
        out[f"{name} cover"] = float((field_lab > 0).mean())
        out[f"_{name}"] = (field_img, res)
    cut_total = cut_found = false_edge = 0
    crops = []
    for c_img, c_lab in border_crops(img, lab, np.random.default_rng(2)):
        res = seg.segment(c_img)
        cut = touching_edge(c_lab)
        found, _ = matched(c_lab, res)
        _, res_loose = matched(c_lab, res, 0.2)
        cut_total += len(cut)
        cut_found += len(cut & found)
        false_edge += len(touching_edge(res) - res_loose)
        crops.append((c_img, res))
    out["cut recall"] = cut_found / max(1, cut_total)
    out["false edge objects"] = false_edge
    out["_border"] = crops[0]
    return out


def overlay(img: np.ndarray, labels: np.ndarray) -> np.ndarray:
    from skimage.color import label2rgb
    from skimage.segmentation import find_boundaries

    g = (img - np.percentile(img, 1)) / max(1e-6, np.percentile(img, 99.8) - np.percentile(img, 1))
    rgb = np.dstack([np.clip(g, 0, 1)] * 3)
    if labels.max():
        rgb = label2rgb(labels, rgb, alpha=0.25, bg_label=0)
        rgb[find_boundaries(labels)] = (1, 1, 0)
    return (rgb * 255).astype(np.uint8)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", required=True, help="model folder (e.g. the previous default)")
    p.add_argument("--after", default="default")
    p.add_argument("--figures", help="write image | before | after crops here (PNG)")
    args = p.parse_args(argv)
    img = read_image(SAMPLES / "nuclei_dsb2018.tif")[0]
    lab = read_labels(SAMPLES / "labels" / "nuclei_dsb2018.tif").astype(np.int32)
    results = {
        k: measure(Segmenter(m, device="cpu"), img, lab) for k, m in (("before", args.before), ("after", args.after))
    }
    keys = [k for k in results["before"] if not k.startswith("_")]
    print("| measure | before | after |\n|---|---|---|")
    for k in keys:
        b, a = results["before"][k], results["after"][k]
        fmt = (lambda v: f"{v}") if isinstance(b, int) else (lambda v: f"{v:.3f}")
        print(f"| {k} | {fmt(b)} | {fmt(a)} |")
    if args.figures:
        from PIL import Image

        folder = Path(args.figures)
        folder.mkdir(parents=True, exist_ok=True)
        for case, size in (("_dim", 256), ("_dense", 256), ("_border", 160)):
            image = results["before"][case][0][:size, :size]
            panels = [overlay(image, np.zeros_like(image, dtype=np.int32))]
            panels += [overlay(image, results[k][case][1][:size, :size]) for k in ("before", "after")]
            gap = np.full((image.shape[0], 4, 3), 255, np.uint8)
            strip = np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1)
            Image.fromarray(strip).save(folder / f"robustness{case}.png", optimize=True)
        print(f"crops (image | before | after) in {folder}")
    return results


if __name__ == "__main__":
    main()
