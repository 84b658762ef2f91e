"""Labels -> 3-class targets -> labels must give the instances back, on real annotations."""

import glob

import numpy as np
import pytest

from cellseg.io import read_labels
from cellseg.metrics import evaluate_pair, pool
from cellseg.postprocess import classes_to_labels, fill_holes, probabilities_to_labels
from cellseg.targets import BACKGROUND, BOUNDARY, INTERIOR, labels_to_classes

from .conftest import data_path

LABEL_SETS = {
    "Fluo-N2DH-GOWT1": "ctc/Fluo-N2DH-GOWT1/0*_GT/SEG/*.tif",
    "Fluo-C2DL-MSC": "ctc/Fluo-C2DL-MSC/0*_GT/SEG/*.tif",
    "Fluo-N2DH-SIM+": "ctc/Fluo-N2DH-SIM+/01_GT/SEG/*.tif",
    "Fluo-N2DL-HeLa-gold": "ctc/Fluo-N2DL-HeLa/01_GT/SEG/*.tif",
    "Fluo-N2DL-HeLa-err": "ctc/Fluo-N2DL-HeLa/02_ERR_SEG/*.tif",
    "ecoli-trpL-phc": "folders/ecoli-trpL-phc/labels/*.tif",
    "dsb2018-stage1-test": "folders/dsb2018-stage1-test/labels/*.tif",
}


@pytest.mark.parametrize("name", LABEL_SETS)
def test_roundtrip_on_real_labels(name):
    root = data_path()
    files = sorted(glob.glob(str(root / LABEL_SETS[name])))[::2]
    assert files, f"no label files for {name}"
    results = []
    for f in files:
        lab = read_labels(f)
        out = classes_to_labels(labels_to_classes(lab), min_size=0)
        assert out.dtype == np.uint16
        results.append(evaluate_pair(lab, out))
    scores = pool(results)
    assert scores["SEG"] >= 0.95, (name, scores)
    assert scores["DET"] >= 0.95, (name, scores)


def test_touching_cells_are_separated_by_a_seam():
    lab = np.zeros((40, 60), np.uint16)
    lab[10:30, 10:30] = 1
    lab[10:30, 30:50] = 2  # touches cell 1 along a vertical line
    cls = labels_to_classes(lab)
    assert set(np.unique(cls)) == {BACKGROUND, INTERIOR, BOUNDARY}
    assert (cls[15:25, 29] == BOUNDARY).all() and (cls[15:25, 30] == BOUNDARY).all()
    assert (cls[8, 10:50] == BOUNDARY).all()  # the band outside the cells
    assert (cls[20, 15:28] == INTERIOR).all()
    out = classes_to_labels(cls, min_size=0)
    assert out.max() == 2
    assert evaluate_pair(lab, out)["SEG"] == 1.0


def test_small_objects_removed_holes_filled_labels_sequential():
    cls = np.zeros((50, 50), np.uint8)
    cls[5:25, 5:25] = INTERIOR
    cls[12:16, 12:16] = BACKGROUND  # hole
    cls[40:42, 40:42] = INTERIOR  # 4-pixel speck
    cls[30:45, 5:20] = INTERIOR
    out = classes_to_labels(cls, min_size=10)
    assert out.dtype == np.uint16
    assert sorted(np.unique(out)) == [0, 1, 2]
    assert out[13, 13] == out[6, 6] != 0
    assert out[41, 41] == 0


def test_fill_holes_leaves_gaps_between_two_cells():
    lab = np.zeros((20, 20), np.int32)
    lab[2:18, 2:10] = 1
    lab[2:18, 11:18] = 2
    lab[5, 5] = 0
    out = fill_holes(lab)
    assert out[5, 5] == 1 and (out[2:18, 10] == 0).all()


def test_probabilities_argmax_seams_and_min_size():
    probs = np.zeros((3, 30, 40), np.float32)
    probs[0] = 0.5
    probs[1, 5:20, 5:15] = 0.9  # two interiors...
    probs[1, 5:20, 16:26] = 0.9
    probs[2, 5:20, 15] = 0.95  # ...split by a one-pixel boundary seam
    probs[1, 25:27, 30:32] = 0.9  # a 4-pixel speck
    labels = probabilities_to_labels(probs, min_size=5)
    assert labels.max() == 2 and labels[27:, :].max() == 0, "the speck is dropped"
    assert (labels[5:20, 5:15] == labels[10, 10]).all() and (labels[5:20, 16:26] == labels[10, 20]).all()
    assert labels[10, 10] != labels[10, 20]
    assert (labels[5:20, 15] > 0).all(), "seam pixels go back to a neighbouring cell"
    assert (labels > 0).sum() == 2 * 150 + 15
    assert probabilities_to_labels(probs, min_size=0).max() == 3


def test_threshold_sizes_and_hole_filling_follow_the_options():
    from cellseg.options import SegmentOptions
    from cellseg.postprocess import to_classes

    probs = np.zeros((3, 40, 60), np.float32)
    probs[0] = 1.0
    probs[:, 5:25, 5:25] = np.array([0.2, 0.6, 0.2])[:, None, None]  # a confident cell (margin 0.4)
    probs[:, 12:16, 12:16] = np.array([0.8, 0.1, 0.1])[:, None, None]  # a hole in it
    probs[:, 5:10, 40:45] = np.array([0.3, 0.4, 0.3])[:, None, None]  # a faint 25-pixel one (margin 0.1)
    np.testing.assert_array_equal(to_classes(probs, 0.0), np.argmax(probs, axis=0))
    assert (to_classes(probs, -1.0)[probs[1] > 0] == 1).all()  # lowest threshold: every pixel with some interior
    default = probabilities_to_labels(probs, options=SegmentOptions(min_size=0))
    assert default.max() == 2 and default[13, 13] == default[6, 6]  # both cells, the hole filled
    strict = probabilities_to_labels(probs, options=SegmentOptions(min_size=0, interior_threshold=0.2))
    assert strict.max() == 1 and strict[7, 42] == 0  # the faint one is gone
    assert probabilities_to_labels(probs, options=SegmentOptions(min_size=0, max_size=100)).max() == 1
    assert probabilities_to_labels(probs, options=SegmentOptions(min_size=30)).max() == 1
    holes = probabilities_to_labels(probs, options=SegmentOptions(min_size=0, fill_holes=False))
    assert holes[13, 13] == 0 and holes[6, 6] > 0
