"""SEG / DET / AP / F1: known cases, and a cross-check against py-ctcmetrics on real CTC data."""

import numpy as np
import pytest

from cellseg.baseline import otsu_watershed
from cellseg.io import read_image, read_labels
from cellseg.metrics import evaluate_pair, pool

from .conftest import data_path


def squares(*boxes, shape=(40, 40)):
    lab = np.zeros(shape, np.uint16)
    for i, (y0, y1, x0, x1) in enumerate(boxes, start=1):
        lab[y0:y1, x0:x1] = i
    return lab


def test_identical_and_empty():
    ref = squares((0, 10, 0, 10), (20, 30, 20, 30))
    r = evaluate_pair(ref, ref)
    assert r["SEG"] == r["DET"] == r["AP50"] == r["F1_50"] == 1.0
    r = evaluate_pair(ref, np.zeros_like(ref))
    assert r["SEG"] == 0.0 and r["DET"] == 0.0 and r["AP50"] == 0.0


def test_partial_overlap_and_merge():
    ref = squares((0, 10, 0, 10), (0, 10, 10, 20))
    merged = squares((0, 10, 0, 20))  # one result covers both references: one split op
    r = evaluate_pair(ref, merged)
    assert r["SEG"] == pytest.approx(0.5)  # each ref: IoU 100/200
    assert r["DET"] == pytest.approx(1 - 5 / 20)
    assert r["AP50"] == pytest.approx(1 / 2)  # IoU exactly 0.5 counts; one-to-one: 1 TP, 1 FN
    shifted = squares((0, 10, 4, 14), shape=(40, 40))  # covers 60% of ref 1, IoU 60/140
    r = evaluate_pair(squares((0, 10, 0, 10)), shifted)
    assert r["SEG"] == pytest.approx(60 / 140)
    assert r["AP50"] == 0.0 and r["DET"] == 1.0


def test_false_positive_costs_one():
    ref = squares((0, 10, 0, 10))
    res = squares((0, 10, 0, 10), (20, 30, 20, 30))
    assert evaluate_pair(ref, res)["DET"] == pytest.approx(1 - 1 / 10)


def _write_ctc(folder, frames, track_name):
    """Frames as CTC masks, each object its own one-frame track (labels unique over the sequence)."""
    import tifffile

    folder.mkdir(parents=True)
    lines, offset = [], 0
    out = []
    for t, lab in enumerate(frames):
        ids = [i for i in np.unique(lab) if i]
        new = np.zeros_like(lab, dtype=np.uint16)
        for i in ids:
            offset += 1
            new[lab == i] = offset
            lines.append(f"{offset} {t} {t} 0")
        out.append(new)
        tifffile.imwrite(folder / f"{'man_track' if track_name == 'man_track.txt' else 'mask'}{t:03d}.tif", new)
    (folder / track_name).write_text("\n".join(lines) + "\n")
    return out


def test_cross_check_with_py_ctcmetrics(tmp_path):
    """Our SEG and DET equal the challenge's own implementation on real GOWT1 / HeLa frames."""
    import tifffile

    pytest.importorskip("ctc_metrics")
    from ctc_metrics.metrics import seg as ctc_seg
    from ctc_metrics.scripts.evaluate import evaluate_sequence
    from ctc_metrics.utils.representations import match

    pairs = [("ctc/Fluo-N2DH-GOWT1/01", "t021"), ("ctc/Fluo-N2DH-GOWT1/01", "t031"), ("ctc/Fluo-N2DL-HeLa/01", "t013")]
    refs, ress, ours = [], [], []
    for seq, frame in pairs:
        seq_dir = data_path(seq)
        ref = read_labels(seq_dir.parent / f"{seq_dir.name}_GT/SEG/man_seg{frame[1:]}.tif")
        res = otsu_watershed(read_image(seq_dir / f"{frame}.tif")[0])
        ref, res = ref[:600, :600], res[:600, :600]  # same crop for both: keeps py-ctcmetrics fast
        refs.append(ref)
        ress.append(res)
        ours.append(evaluate_pair(ref, res))
        # SEG per frame through py-ctcmetrics' matching
        tifffile.imwrite(tmp_path / "ref.tif", ref)
        tifffile.imwrite(tmp_path / "res.tif", res)
        labels_ref, _, _, _, ious = match(str(tmp_path / "ref.tif"), str(tmp_path / "res.tif"))
        assert ours[-1]["SEG"] == pytest.approx(ctc_seg([labels_ref], [ious]), abs=1e-9)
    # DET through py-ctcmetrics' graph measure: GT objects as the tracking reference
    gt = tmp_path / "GT"
    _write_ctc(gt / "TRA", refs, "man_track.txt")
    res_dir = tmp_path / "RES"
    _write_ctc(res_dir, ress, "res_track.txt")
    theirs = evaluate_sequence(str(res_dir), str(gt), metrics=["DET"], threads=1)
    assert pool(ours)["DET"] == pytest.approx(theirs["DET"], abs=1e-9)
    assert 0.2 < pool(ours)["DET"] < 1.0  # a real, imperfect segmentation


def test_validation_with_given_sizes_leaves_the_segmenter_as_it_was():
    """Each frame is segmented at its labels' median diameter, and the caller's options come back after."""
    from cellseg.datasets.sample import Sample
    from cellseg.options import DEFAULTS
    from cellseg.training.validate import validate

    labels = np.zeros((64, 64), np.int32)
    labels[10:20, 10:20], labels[30:50, 30:50] = 1, 2  # diameters ~11 and ~23: median ~17

    class Recorder:
        options = DEFAULTS.replace(diameter=0.0)
        used: list = []

        def segment(self, image):
            self.used.append(self.options.diameter)
            return labels

    seg = Recorder()
    scores = validate(seg, {"a": [Sample(labels.astype(np.float32), labels, "a", "x")]}, given_size=True)
    assert scores["a"]["SEG"] == 1.0
    assert seg.used[0] > 10 and seg.options.diameter == 0.0  # given while scoring, restored after
