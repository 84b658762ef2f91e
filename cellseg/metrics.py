"""Segmentation measures: the Cell Tracking Challenge's SEG and DET, and AP / F1 at IoU 0.5.

All work from one overlap table between reference (GT) and result labels
(:func:`cellseg.matching.overlap`, one ``bincount`` pass), so a 1024x1024 frame with hundreds of cells
costs milliseconds.
"""

from __future__ import annotations

import numpy as np

from .matching import Overlap, match_by_iou, overlap

# AOGM-D weights of the CTC DET measure
W_SPLIT, W_FN, W_FP = 5.0, 10.0, 1.0


def seg_scores(ov: Overlap) -> np.ndarray:
    """CTC SEG per reference object: Jaccard with the result covering > 50% of it, else 0."""
    if ov.inter[1:, 1:].size == 0:
        return np.zeros(len(ov.ref_ids))
    return np.where(ov.majority(), ov.iou(), 0.0).max(axis=1)


def det_counts(ov: Overlap) -> dict:
    """Detection errors as the CTC counts them (reference matched when a result covers > 50%)."""
    n_ref, n_res = len(ov.ref_ids), len(ov.res_ids)
    if n_ref == 0 or n_res == 0:
        return {"n_ref": n_ref, "fn": n_ref, "fp": n_res, "split": 0}
    match = ov.majority()
    refs_per_res = match.sum(axis=0)
    fn = int((match.sum(axis=1) == 0).sum())
    fp = int((refs_per_res == 0).sum())
    split = int(np.maximum(refs_per_res - 1, 0).sum())
    return {"n_ref": n_ref, "fn": fn, "fp": fp, "split": split}


def det_from_counts(c: dict) -> float:
    aogm0 = W_FN * c["n_ref"]
    if aogm0 == 0:
        return float("nan")
    aogm = W_SPLIT * c["split"] + W_FN * c["fn"] + W_FP * c["fp"]
    return 1.0 - min(aogm, aogm0) / aogm0


def matched_pairs(ov: Overlap, iou: float = 0.5) -> int:
    """Number of one-to-one matches with IoU >= threshold (Hungarian on IoU)."""
    return len(match_by_iou(ov.iou(), iou)[0])


def evaluate_pair(ref: np.ndarray, res: np.ndarray, iou: float = 0.5) -> dict:
    """All measures for one frame, plus the raw counts needed to pool over many frames."""
    ov = overlap(ref, res)
    seg = seg_scores(ov)
    c = det_counts(ov)
    tp = matched_pairs(ov, iou)
    n_ref, n_res = len(ov.ref_ids), len(ov.res_ids)
    fp, fn = n_res - tp, n_ref - tp
    return {
        "SEG": float(seg.mean()) if len(seg) else float("nan"),
        "DET": det_from_counts(c),
        "AP50": tp / (tp + fp + fn) if (tp + fp + fn) else float("nan"),
        "F1_50": 2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else float("nan"),
        "n_ref": n_ref,
        "n_res": n_res,
        "_seg_sum": float(seg.sum()),
        "_det": c,
        "_tp": tp,
    }


def pool(results: list[dict]) -> dict:
    """Overall measures over many frames, pooled over objects as the CTC does."""
    n_ref = sum(r["n_ref"] for r in results)
    n_res = sum(r["n_res"] for r in results)
    tp = sum(r["_tp"] for r in results)
    c = {k: sum(r["_det"][k] for r in results) for k in ("n_ref", "fn", "fp", "split")}
    fp, fn = n_res - tp, n_ref - tp
    return {
        "SEG": sum(r["_seg_sum"] for r in results) / n_ref if n_ref else float("nan"),
        "DET": det_from_counts(c),
        "AP50": tp / (tp + fp + fn) if (tp + fp + fn) else float("nan"),
        "F1_50": 2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else float("nan"),
        "n_ref": n_ref,
        "n_res": n_res,
    }
