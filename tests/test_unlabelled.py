"""Sparse user labels: the base model's cells without a label are found, warned about, and ignored with --sparse."""

import numpy as np
import pytest
import tifffile

from cellseg.datasets.sample import Sample
from cellseg.options import DEFAULTS

pytest.importorskip("albumentations")

from cellseg.training import finetune as finetune_module  # noqa: E402
from cellseg.training import unlabelled  # noqa: E402


class Oracle:
    """A segmenter that finds exactly ``truth`` (the base model finding every cell)."""

    def __init__(self, truth):
        self.truth, self.options, self.diameters = truth, DEFAULTS, []

    def segment(self, image):
        self.diameters.append(self.options.diameter)
        return self.truth


def many_cells():
    from skimage.draw import disk

    img = np.full((120, 160), 10.0, np.float32)
    lab = np.zeros(img.shape, np.int32)
    centres = [(20 + 40 * r, 20 + 40 * c) for r in range(3) for c in range(4)]
    for i, (y, x) in enumerate(centres, start=1):
        rr, cc = disk((y, x), 10, shape=img.shape)
        img[rr, cc], lab[rr, cc] = 200, i
    return img, lab


def test_unlabelled_cells_are_found_and_ignored_never_over_a_label():
    img, truth = many_cells()
    sparse = np.where(truth <= 4, truth, 0)  # the user labelled 4 of 12 cells
    oracle = Oracle(truth)
    u = unlabelled.find(oracle, Sample(img, sparse, "mine", "a.tif"))
    assert (u.count, u.total, u.sparse) == (8, 12, True)
    assert oracle.options.diameter == DEFAULTS.diameter and oracle.diameters[0] > 15  # given, then restored
    assert np.array_equal(u.mask, truth > 4)
    s = unlabelled.ignore_unlabelled(Sample(img, sparse, "mine", "a.tif"), u)
    assert s.ignore[truth > 4].all()  # every unlabelled cell is unknown...
    assert not s.ignore[sparse > 0].any()  # ...no labelled pixel is
    assert s.ignore.sum() > (truth > 4).sum()  # grown by a margin around each cell
    complete = unlabelled.find(Oracle(truth), Sample(img, truth, "mine", "b.tif"))
    assert (complete.count, complete.sparse) == (0, False)
    one_missing = unlabelled.find(Oracle(truth), Sample(img, np.where(truth == 12, 0, truth), "mine", "c.tif"))
    assert (one_missing.count, one_missing.sparse) == (1, False)  # a forgotten cell is not "sparse labels"


def test_finetune_warns_about_sparse_labels_and_ignores_them_when_told(tmp_path, tiny_model_dir, monkeypatch):
    img, truth = many_cells()
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    for k in range(4):
        tifffile.imwrite(tmp_path / "images" / f"c{k}.tif", np.roll(img, 7 * k, axis=1).astype(np.uint16))
        tifffile.imwrite(tmp_path / "labels" / f"c{k}.tif", np.roll(np.where(truth <= 4, truth, 0), 7 * k, axis=1))
    found = finetune_module.pairs(tmp_path / "images", tmp_path / "labels")
    oracle_masks, real_find = {}, unlabelled.find

    def as_if_the_base_found_every_cell(seg, sample):
        k = int(sample.name[1])
        u = real_find(Oracle(np.roll(truth, 7 * k, axis=1)), sample)
        oracle_masks[sample.name] = u.mask
        return u

    monkeypatch.setattr(unlabelled, "find", as_if_the_base_found_every_cell)
    from cellseg.training import trainer as trainer_module

    seen = {}  # what the trainer trains on

    loaders = trainer_module.Trainer.loaders

    def spy(self):
        seen["train"] = self.train_sets[finetune_module.USER]
        return loaders(self)

    monkeypatch.setattr(trainer_module.Trainer, "loaders", spy)
    lines = []
    finetune_module.finetune(found, tmp_path / "m1", str(tiny_model_dir), steps=1, log=lines.append)
    warned = [line for line in lines if line.startswith("warning:")]
    assert len(warned) == 3 and "8 of the 12 objects" in warned[0] and "--sparse" in warned[0]
    assert all(s.ignore is None for s in seen["train"])  # told nothing: labels taken as they are
    lines.clear()
    finetune_module.finetune(found, tmp_path / "m2", str(tiny_model_dir), steps=1, sparse=True, log=lines.append)
    assert not [line for line in lines if line.startswith("warning:")]
    assert any("ignoring 24 unlabelled cell(s)" in line for line in lines)
    for s in seen["train"]:
        assert s.ignore[oracle_masks[s.name]].all() and not s.ignore[s.labels > 0].any()
