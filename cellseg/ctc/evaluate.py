"""``cellseg ctc evaluate``: the challenge's measures (py-ctcmetrics) beside our own SEG and DET.

SEG: gold ``<seq>_GT/SEG/man_segNNN.tif`` against ``<seq>_RES/maskNNN.tif``, pooled over objects.
DET: every ``<seq>_GT/TRA/man_trackNNN.tif`` marker as a reference object. TRA (py-ctcmetrics) needs
``res_track.txt`` (``cellseg ctc segment --track``). OP_CSB = (SEG + DET) / 2, OP_CTB = (SEG + TRA) / 2.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

from ..errors import InputError
from ..io import read_labels
from ..metrics import evaluate_pair, pool
from .layout import numbered_files


def evaluate_sequence(dataset_dir: str | Path, seq: str, use_ctcmetrics: bool = True) -> dict:
    dataset_dir = Path(dataset_dir)
    gt, res = dataset_dir / f"{seq}_GT", dataset_dir / f"{seq}_RES"
    if not gt.is_dir():
        raise InputError(gt, "ground-truth folder not found (need <seq>_GT with SEG and/or TRA)")
    if not res.is_dir():
        raise InputError(res, "result folder not found: run 'cellseg ctc segment' first")
    masks = numbered_files(res, "mask")
    seg_gt, tra_gt = numbered_files(gt / "SEG", "man_seg"), numbered_files(gt / "TRA", "man_track")
    if not seg_gt and not tra_gt:
        raise InputError(gt, "holds neither SEG/man_segNNN.tif nor TRA/man_trackNNN.tif")
    for t in set(seg_gt) | set(tra_gt):
        if t not in masks:
            raise InputError(res, f"no mask for frame {t} (ground truth has one)")
    out: dict = {"sequence": f"{dataset_dir.name}/{seq}"}
    if seg_gt:
        seg = pool([evaluate_pair(read_labels(seg_gt[t]), read_labels(masks[t])) for t in sorted(seg_gt)])
        out.update(SEG=seg["SEG"], seg_frames=len(seg_gt), seg_objects=seg["n_ref"])
    if tra_gt:
        det = pool([evaluate_pair(read_labels(tra_gt[t]), read_labels(masks[t])) for t in sorted(tra_gt)])
        out["DET"] = det["DET"]
    if use_ctcmetrics:
        out["ctcmetrics"] = _ctcmetrics(gt, res, seg_gt, masks, bool(tra_gt))
    ref = out.get("ctcmetrics", {})
    seg_v = out.get("SEG")
    if seg_v is not None and out.get("DET") is not None:
        out["OP_CSB"] = (seg_v + out["DET"]) / 2
    if seg_v is not None and ref.get("TRA") is not None:
        out["OP_CTB"] = (seg_v + ref["TRA"]) / 2
    return out


def _ctcmetrics(gt: Path, res: Path, seg_gt: dict, masks: dict, has_tra: bool) -> dict:
    """The challenge's own implementation (py-ctcmetrics)."""
    from ctc_metrics.metrics import seg as ctc_seg
    from ctc_metrics.utils.representations import match

    out = {}
    if seg_gt:
        refs, ious = [], []
        for t in sorted(seg_gt):
            labels_ref, _, _, _, iou = match(str(seg_gt[t]), str(masks[t]))
            refs.append(labels_ref)
            ious.append(iou)
        out["SEG"] = ctc_seg(refs, ious)
    if has_tra and (res / "res_track.txt").is_file():
        from ctc_metrics.scripts.evaluate import evaluate_sequence as ctc_evaluate

        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            r = ctc_evaluate(str(res), str(gt), metrics=["DET", "TRA"], threads=1)
        out.update(DET=float(r["DET"]), TRA=float(r["TRA"]))
    return out


def validate_result(res: str | Path) -> bool:
    """py-ctcmetrics' ``ctc_validate`` check of a result folder (masks + res_track.txt)."""
    from ctc_metrics.scripts.validate import validate_sequence

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return bool(validate_sequence(str(res), threads=1)["Valid"])
