"""Every kind of bad input: a one-line error naming the file, good files still done, no partial output."""

import numpy as np
import pytest
import tifffile

from cellseg.cli import main


@pytest.fixture()
def batch_dir(tmp_path, blobs):
    img, _ = blobs
    d = tmp_path / "batch"
    d.mkdir()
    tifffile.imwrite(d / "good.tif", img.astype(np.uint16))
    (d / "text.tif").write_text("this is not a TIFF\n")
    tifffile.imwrite(d / "full.tif", img.astype(np.uint16))
    raw = (d / "full.tif").read_bytes()
    (d / "truncated.tif").write_bytes(raw[: len(raw) // 3])
    (d / "full.tif").unlink()
    tifffile.imwrite(d / "tiny.tif", np.zeros((1, 1), np.uint8))
    nan = img.copy()
    nan[3, 3] = np.nan
    tifffile.imwrite(d / "nan.tif", nan)
    tifffile.imwrite(d / "fived.tif", np.zeros((2, 2, 2, 16, 16), np.uint8))
    tifffile.imwrite(d / "empty.tif", np.zeros((0, 16), np.uint8))
    return d


def test_batch_with_bad_files(batch_dir, tmp_path, tiny_model_dir, capsys):
    out = tmp_path / "out"
    missing = tmp_path / "missing.tif"
    code = main(["segment", str(batch_dir), str(missing), "-o", str(out), "--model", str(tiny_model_dir), "-q"])
    err = capsys.readouterr().err
    assert code != 0
    assert sorted(p.name for p in out.iterdir()) == ["good.tif", "summary.csv"], "only the good file has an output"
    expected = {
        "missing.tif": "no such file",
        "text.tif": "not a readable image",
        "truncated.tif": "not a readable image",
        "tiny.tif": "too small (1x1)",
        "nan.tif": "NaN",
        "fived.tif": "5-D array",
        "empty.tif": "empty",
    }
    lines = [line.strip() for line in err.splitlines()]
    for name, problem in expected.items():
        hits = [line for line in lines if name in line and problem in line]
        assert hits, f"no one-line error for {name} ({problem}) in:\n{err}"
    assert "Traceback" not in err


def test_empty_folder(tmp_path, tiny_model_dir, capsys):
    (tmp_path / "empty").mkdir()
    code = main(["segment", str(tmp_path / "empty"), "-o", str(tmp_path / "out"), "--model", str(tiny_model_dir)])
    assert code != 0
    assert "folder holds no images" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["missing", "folder_without_files", "garbage_weights", "json_only", "pickle"])
def test_bad_model_path(tmp_path, blobs, capsys, kind, tiny_model_dir):
    import json
    import shutil

    img, _ = blobs
    tifffile.imwrite(tmp_path / "a.tif", img.astype(np.uint8))
    model = tmp_path / "model"
    if kind == "folder_without_files":
        model.mkdir()
    elif kind == "garbage_weights":
        shutil.copytree(tiny_model_dir, model)
        (model / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    elif kind == "json_only":
        model.mkdir()
        (model / "config.json").write_text(json.dumps({"hello": 1}))
        (model / "model.safetensors").write_bytes(b"")
    elif kind == "pickle":
        import torch

        model = tmp_path / "model.pt"
        torch.save({"weights": torch.zeros(1)}, model)
    code = main(["segment", str(tmp_path / "a.tif"), "-o", str(tmp_path / "out"), "--model", str(model)])
    err = capsys.readouterr().err
    assert code == 2
    assert "not a cellseg model" in err and str(model.name) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_unwritable_output(tmp_path, blobs, tiny_model_dir, capsys):
    img, _ = blobs
    tifffile.imwrite(tmp_path / "a.tif", img.astype(np.uint8))
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where the output folder should go (root ignores chmod)
    code = main(["segment", str(tmp_path / "a.tif"), "-o", str(blocker / "out"), "--model", str(tiny_model_dir)])
    err = capsys.readouterr().err
    assert code == 2 and "out" in err and "output folder" in err


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    import cellseg.io as cio

    def broken(path, data, **kw):
        with open(path, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(tifffile, "imwrite", broken)
    with pytest.raises(OSError):
        cio.write_labels(tmp_path / "x.tif", np.ones((4, 4), np.uint16))
    assert list(tmp_path.iterdir()) == []


def test_outputs_are_readable_by_others(tmp_path):
    import os

    import cellseg.io as cio

    old = os.umask(0o022)
    try:
        p = cio.write_labels(tmp_path / "x.tif", np.ones((4, 4), np.uint16))
    finally:
        os.umask(old)
    assert oct(p.stat().st_mode & 0o777) == oct(0o644)
