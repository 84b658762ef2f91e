"""`cellseg finetune`: pairing, the validation split, never worse than the base, interruption keeps the best,
named models usable everywhere."""

import json

import numpy as np
import pytest
import tifffile

from cellseg.cli import main
from cellseg.errors import InputError

pytest.importorskip("albumentations")

from cellseg.training.finetune import finetune, pairs, read_pairs, split  # noqa: E402


@pytest.fixture()
def user_images(tmp_path, blobs):
    """Four images of bright disks with their labels, named as Cellpose users save them."""
    img, lab = blobs
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    for k in range(4):
        tifffile.imwrite(tmp_path / "images" / f"cells{k}.tif", np.roll(img, 11 * k, axis=1).astype(np.uint16))
        tifffile.imwrite(tmp_path / "labels" / f"cells{k}_masks.tif", np.roll(lab, 11 * k, axis=1))
    return tmp_path


@pytest.fixture(autouse=True)
def models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CELLSEG_MODELS", str(tmp_path / "user-models"))
    return tmp_path / "user-models"


def test_pairs_by_name_ctc_and_single_files(user_images, tmp_path):
    found = pairs(user_images / "images", user_images / "labels")
    assert [(a.name, b.name) for a, b in found] == [(f"cells{k}.tif", f"cells{k}_masks.tif") for k in range(4)]
    (tmp_path / "seq").mkdir()
    (tmp_path / "SEG").mkdir()
    tifffile.imwrite(tmp_path / "seq" / "t007.tif", np.zeros((40, 40), np.uint16))
    tifffile.imwrite(tmp_path / "SEG" / "man_seg007.tif", np.ones((40, 40), np.uint16))
    assert [(a.name, b.name) for a, b in pairs(tmp_path / "seq", tmp_path / "SEG")] == [("t007.tif", "man_seg007.tif")]
    one = pairs(found[0][0], found[0][1])
    assert len(one) == 1
    with pytest.raises(InputError, match="no label file matches"):
        pairs(user_images / "images", tmp_path / "SEG")


def test_split_holds_out_a_quarter_or_a_band_of_one_image(user_images):
    samples = read_pairs(pairs(user_images / "images", user_images / "labels"))
    train, val, how = split(samples)
    assert len(train) == 3 and len(val) == 1 and "validated on 1 of your 4 images" in how
    train, val, how = split(samples[:1])
    w = samples[0].image.shape[1]  # 96 x 120: cut along its long side, the columns
    assert train[0].image.shape[1] + val[0].image.shape[1] == w and "70% of columns" in how
    assert val[0].labels.max() > 0
    train, val, how = split(samples, holdout="bands")  # every image gives a band to the guard
    assert len(train) == len(val) == 4 and "last 30% of each of your 4 images" in how
    for s, t, v in zip(samples, train, val):
        assert t.image.shape[1] + v.image.shape[1] == s.image.shape[1] and t.image.shape[0] == s.image.shape[0]
        assert np.array_equal(np.concatenate([t.labels, v.labels], axis=1), s.labels)


def test_finetune_saves_a_better_model_with_its_provenance(user_images, tiny_model_dir, models_dir, capsys, tmp_path):
    import shutil

    base = shutil.copytree(tiny_model_dir, tmp_path / "base")  # with the size it segments at, which is kept
    (base / "config.json").write_text(
        json.dumps({**json.loads((base / "config.json").read_text()), "segment_diameter": 20})
    )
    args = ["finetune", str(user_images / "images"), str(user_images / "labels"), "-o", "my-cells"]
    code = main([*args, "--from", str(base), "--steps", "40", "--lr", "3e-3", "--train-encoder"])
    out = capsys.readouterr().out
    assert code == 0, out
    folder = models_dir / "my-cells"
    assert json.loads((folder / "config.json").read_text())["segment_diameter"] == 20
    info = json.loads((folder / "config.json").read_text())["finetune"]
    assert info["val_seg_after"] > info["val_seg_before"]
    assert info["images"] == [f"cells{k}.tif" for k in range(4)] and info["encoder"] == "trained"
    assert "validated on 1 of your 4 images" in info["split"]
    assert not [p for p in models_dir.iterdir() if p.name.startswith(".")]  # no run folder or temp left
    assert main(["models"]) == 0 and "my-cells" in capsys.readouterr().out
    seg_out = user_images / "segmented"
    assert main(["segment", str(user_images / "images"), "-o", str(seg_out), "--model", "my-cells", "-q"]) == 0
    assert tifffile.imread(seg_out / "cells0.tif").max() > 0


def test_a_model_no_better_than_its_base_is_not_saved(user_images, tiny_model_dir, models_dir, capsys):
    args = ["finetune", str(user_images / "images"), str(user_images / "labels"), "-o", "same"]
    assert main([*args, "--from", str(tiny_model_dir), "--steps", "3", "--lr", "1e-7"]) == 1
    assert "nothing saved" in capsys.readouterr().err
    assert not (models_dir / "same").exists()


def test_an_interrupted_run_keeps_the_best_model_so_far(user_images, tiny_model_dir, tmp_path):
    def interrupt(event):
        if event.done >= 30:
            raise KeyboardInterrupt  # as Ctrl-C

    found = pairs(user_images / "images", user_images / "labels")
    r = finetune(found, tmp_path / "model", str(tiny_model_dir), steps=200, lr=3e-3, train_encoder=True,
                 progress=interrupt, log=lambda line: None)  # fmt: skip
    assert r.steps == 30 and r.saved == tmp_path / "model"
    saved = json.loads((tmp_path / "model" / "config.json").read_text())["finetune"]
    assert saved["val_seg_after"] == round(r.after, 4) > r.before
    with pytest.raises(Exception, match="already holds files"):  # a model is never replaced
        finetune(found, tmp_path / "model", str(tiny_model_dir), steps=1, log=lambda line: None)


def test_finetune_can_train_at_the_size_its_base_segments_at(user_images, tiny_model_dir, tmp_path, monkeypatch):
    import shutil

    from cellseg.training.trainer import Trainer

    base = shutil.copytree(tiny_model_dir, tmp_path / "base")
    meta = json.loads((base / "config.json").read_text())
    (base / "config.json").write_text(json.dumps({**meta, "object_diameter": 12, "segment_diameter": 20}))
    found = pairs(user_images / "images", user_images / "labels")
    seen, init = [], Trainer.__init__

    def recording(self, cfg, *args, **kwargs):
        seen.append(cfg.object_diameter)
        init(self, cfg, *args, **kwargs)

    monkeypatch.setattr(Trainer, "__init__", recording)
    finetune(found, tmp_path / "at-trained", str(base), steps=1, log=lambda line: None)
    r = finetune(found, tmp_path / "at-segment", str(base), steps=30, lr=3e-3, train_encoder=True,
                 diameter="segment", log=lambda line: None)  # fmt: skip
    assert seen == [12, 20]  # the size it was trained at by default; the size it segments at when asked
    info = json.loads((r.saved / "config.json").read_text())
    assert info["finetune"]["train_diameter"] == 20 and info["segment_diameter"] == 20


def test_pipeline_mode_trains_and_validates_where_segment_runs(user_images, tiny_model_dir, tmp_path, monkeypatch):
    import numpy as np

    from cellseg.datasets.sample import Sample
    from cellseg.training import finetune as ft

    class Seg:  # estimates 10 px and brings it to 20: segment would show this image at twice its size
        estimate = staticmethod(lambda image, nuclear=None, name="": 10.0)
        scale_of = staticmethod(lambda d: 20.0 / d)

    s = Sample(np.random.default_rng(0).random((40, 60), dtype=np.float32), np.ones((40, 60), np.int32), "u", "a")
    (p,) = ft.at_pipeline_scale(Seg(), [s], channels=1)
    assert p.image.shape == p.labels.shape == p.ignore.shape == (80, 120)
    given = []
    score = ft._score
    monkeypatch.setattr(
        ft, "_score", lambda seg, val, given_size=True: given.append(given_size) or score(seg, val, given_size)
    )
    found = pairs(user_images / "images", user_images / "labels")
    r = finetune(
        found, tmp_path / "m", str(tiny_model_dir), steps=20, lr=3e-3, diameter="pipeline", log=lambda line: None
    )
    assert given and not any(given)  # before, during and after: sizes estimated, as `segment` runs
    assert json.loads((r.saved / "config.json").read_text())["finetune"]["train_diameter"] == "pipeline"
