"""The one matching implementation (cellseg.matching), pinned against py-ctcmetrics' own matching."""

import numpy as np
import pytest
import tifffile

from cellseg.matching import match_by_iou, overlap

from .conftest import data_path


def test_matches_py_ctcmetrics_on_real_frames(tmp_path):
    """Same labels, same majority matches, same IoU as the challenge's code, on gold GT vs the baseline."""
    from ctc_metrics.utils.representations import match

    from cellseg.baseline import otsu_watershed
    from cellseg.io import read_image, read_labels

    seq = data_path("ctc/Fluo-N2DH-SIM+")
    compared = 0
    for t in (0, 30, 64):
        gt_path = seq / "01_GT" / "SEG" / f"man_seg{t:03d}.tif"
        res = otsu_watershed(read_image(seq / "01" / f"t{t:03d}.tif")[0])
        res_path = tmp_path / f"mask{t:03d}.tif"
        tifffile.imwrite(res_path, res)
        labels_ref, labels_res, mapped_ref, mapped_res, iou = match(str(gt_path), str(res_path))
        ov = overlap(read_labels(gt_path), res)
        assert ov.ref_ids.tolist() == list(labels_ref) and ov.res_ids.tolist() == list(labels_res)
        rows, cols = np.nonzero(ov.majority())
        ours = sorted(zip(ov.ref_ids[rows].tolist(), ov.res_ids[cols].tolist(), ov.iou()[rows, cols].tolist()))
        theirs = sorted(zip(list(mapped_ref), list(mapped_res), list(iou)))
        assert len(ours) == len(theirs) > 0
        for (a, b, x), (c, d, y) in zip(ours, theirs):
            assert (a, b) == (c, d) and x == pytest.approx(y, abs=1e-12)
        compared += len(ours)
    assert compared > 15


def test_majority_and_hungarian_on_a_drawn_case():
    ref = np.zeros((10, 10), np.int32)
    res = np.zeros_like(ref)
    ref[0:4, 0:4] = 1  # 16 px
    ref[5:9, 5:9] = 7
    res[0:4, 0:3] = 3  # covers 12 of 16: majority, IoU 0.75
    res[0:4, 3:4] = 4  # the rest of object 1
    res[5:7, 5:9] = 9  # half of object 7: not a majority (needs > 50%)
    ov = overlap(ref, res)
    assert ov.ref_ids.tolist() == [1, 7] and ov.res_ids.tolist() == [3, 4, 9]
    assert ov.majority().tolist() == [[True, False, False], [False, False, False]]
    np.testing.assert_allclose(ov.iou(), [[0.75, 0.25, 0], [0, 0, 0.5]])
    rows, cols = match_by_iou(ov.iou(), 0.5)
    assert list(zip(rows.tolist(), cols.tolist())) == [(0, 0), (1, 2)]
    rows, _ = match_by_iou(ov.iou(), 0.6)
    assert rows.tolist() == [0]
    assert match_by_iou(np.zeros((0, 3)), 0.5)[0].size == 0
    with pytest.raises(ValueError, match="differs"):
        overlap(ref, res[:5])
