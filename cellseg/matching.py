"""Object matching between two label images: the one overlap table every measure and the tracker use.

:func:`overlap` counts the pixels shared by every (reference, result) pair in one ``bincount`` pass.
From it: IoU for every pair, the CTC's majority rule (a result covers more than half of a reference
object: SEG and DET), and one-to-one matching by IoU with the Hungarian assignment (AP/F1 at a
threshold, and frame-to-frame tracking). ``tests/test_matching.py`` pins the table against
py-ctcmetrics' own matching.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment


@dataclass
class Overlap:
    inter: np.ndarray  # (n_ref + 1, n_res + 1) pixel counts, row/col 0 = background
    ref_ids: np.ndarray  # label of each reference object (row 1.. of inter)
    res_ids: np.ndarray  # label of each result object (column 1.. of inter)

    @property
    def ref_area(self) -> np.ndarray:
        return self.inter[1:].sum(axis=1)

    @property
    def res_area(self) -> np.ndarray:
        return self.inter[:, 1:].sum(axis=0)

    def iou(self) -> np.ndarray:
        """(n_ref, n_res) intersection over union of every object pair."""
        inter = self.inter[1:, 1:].astype(float)
        union = self.ref_area[:, None] + self.res_area[None, :] - inter
        return inter / np.maximum(union, 1)

    def majority(self) -> np.ndarray:
        """(n_ref, n_res) bool: the result object covers more than half of the reference object (CTC)."""
        return self.inter[1:, 1:] > 0.5 * self.ref_area[:, None]


def overlap(ref: np.ndarray, res: np.ndarray) -> Overlap:
    if ref.shape != res.shape:
        raise ValueError(f"reference shape {ref.shape} differs from result shape {res.shape}")
    ref_ids, ref_inv = np.unique(ref, return_inverse=True)
    res_ids, res_inv = np.unique(res, return_inverse=True)
    # make index 0 mean background even when a frame has no background pixel
    ref_ids, ref_inv = _with_background(ref_ids, ref_inv)
    res_ids, res_inv = _with_background(res_ids, res_inv)
    n, m = len(ref_ids), len(res_ids)
    inter = np.bincount(ref_inv.ravel() * m + res_inv.ravel(), minlength=n * m).reshape(n, m)
    return Overlap(inter, ref_ids[1:], res_ids[1:])


def _with_background(ids, inv):
    if len(ids) and ids[0] == 0:
        return ids, inv
    return np.concatenate([[0], ids]), inv + 1


def match_by_iou(iou: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one (row, column) pairs maximizing total IoU (Hungarian), kept where IoU >= threshold."""
    if iou.size == 0:
        return np.zeros(0, int), np.zeros(0, int)
    rows, cols = linear_sum_assignment(-iou)
    keep = iou[rows, cols] >= threshold
    return rows[keep], cols[keep]
