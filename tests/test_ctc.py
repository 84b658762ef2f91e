"""CTC submission folders, tracking, the challenge's measures, packaging, bad sequences."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from cellseg.cli import main
from cellseg.ctc import (
    evaluate_sequence,
    format_tracks,
    sequence_frames,
    track_frames,
    validate_result,
)
from cellseg.errors import InputError

from .conftest import data_path

SEQUENCES = [
    ("Fluo-N2DH-GOWT1", "01"),
    ("Fluo-N2DH-GOWT1", "02"),
    ("Fluo-C2DL-MSC", "01"),
    ("Fluo-C2DL-MSC", "02"),
    ("Fluo-N2DH-SIM+", "01"),
]


def copy_frames(src_seq, dst_dataset, seq, n):
    dst = dst_dataset / seq
    dst.mkdir(parents=True)
    for t in range(n):
        shutil.copy(src_seq / f"t{t:03d}.tif", dst / f"t{t:03d}.tif")
    return dst


def disk_frame(centers, r=6, shape=(64, 64)):
    from skimage.draw import disk

    f = np.zeros(shape, np.uint16)
    for i, c in enumerate(centers, start=1):
        f[disk(c[:2], c[2] if len(c) > 2 else r, shape=shape)] = i
    return f


def test_tracking_links_gaps_and_divisions():
    # a cell grows, divides into two, one daughter is missed for a frame and found again
    frames = [
        disk_frame([(20, 20, 9)]),
        disk_frame([(21, 22, 11)]),
        disk_frame([(20, 17), (21, 27)]),
        disk_frame([(20, 16), (22, 30)]),
        np.zeros((64, 64), np.uint16),
        disk_frame([(20, 16)]),
    ]
    out, tracks = track_frames(frames)
    rows = {(t.label, t.begin, t.end, t.parent) for t in tracks}
    left = int(out[3][20, 16])  # the daughter that is missed in frame 4
    assert left in (2, 3)
    assert rows == {(1, 0, 1, 0), (2, 2, 3, 1), (3, 2, 3, 1), (4, 5, 5, left)}
    assert out[0].max() == 1 and set(np.unique(out[2])) == {0, 2, 3}
    assert format_tracks(tracks).splitlines()[0] == "1 0 1 0"


@pytest.mark.slow
@pytest.mark.parametrize("dataset,seq", SEQUENCES)
def test_tracking_real_markers_is_valid(dataset, seq, tmp_path):
    """Tracking the TRA markers of every shared CTC sequence gives results ctc_validate accepts."""
    tra = data_path("ctc", dataset, f"{seq}_GT", "TRA")
    frames = [tifffile.imread(f) for f in sorted(tra.glob("man_track*.tif"))]
    out, tracks = track_frames(frames)
    res = tmp_path / f"{seq}_RES"
    from cellseg.ctc import write_ctc_masks, write_tracks

    write_ctc_masks(res, out)
    write_tracks(res, format_tracks(tracks))
    assert validate_result(res)
    if dataset == "Fluo-N2DH-SIM+":  # perfect detections: tracking itself must be near perfect
        shutil.copytree(tra.parent, tmp_path / f"{seq}_GT")
        r = evaluate_sequence(tmp_path, seq)
        assert r["ctcmetrics"]["TRA"] > 0.99 and r["DET"] == pytest.approx(1.0)


@pytest.mark.slow
def test_segment_resume_overwrite_track_and_evaluate(tmp_path, tiny_model_dir):
    ds = tmp_path / "Fluo-N2DH-SIM+"
    copy_frames(data_path("ctc/Fluo-N2DH-SIM+/01"), ds, "01", 4)
    args = ["ctc", "segment", str(ds), "--seq", "01", "--model", str(tiny_model_dir), "-q"]
    assert main(args) == 0
    res = ds / "01_RES"
    names = sorted(p.name for p in res.iterdir())
    assert names == ["mask000.tif", "mask001.tif", "mask002.tif", "mask003.tif"]
    assert tifffile.imread(res / "mask000.tif").dtype == np.uint16
    before = {p.name: p.stat().st_mtime_ns for p in res.iterdir()}
    (res / "mask002.tif").unlink()
    assert main(args) == 0  # resumes: only the missing frame is segmented
    after = {p.name: p.stat().st_mtime_ns for p in res.iterdir()}
    assert after["mask000.tif"] == before["mask000.tif"] and "mask002.tif" in after
    assert main(args + ["--overwrite", "--track"]) == 0
    assert (res / "res_track.txt").is_file() and validate_result(res)
    assert not [p for p in res.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_evaluate_agrees_with_py_ctcmetrics(tmp_path):
    """Baseline masks of the whole SIM+ sequence, tracked: our SEG and DET equal the challenge's."""
    from cellseg.baseline import otsu_watershed
    from cellseg.ctc import write_ctc_masks, write_tracks
    from cellseg.io import read_image

    src = data_path("ctc/Fluo-N2DH-SIM+")
    frames = [otsu_watershed(read_image(f)[0]) for f in sequence_frames(src / "01")]
    out, tracks = track_frames(frames)
    write_ctc_masks(tmp_path / "01_RES", out)
    write_tracks(tmp_path / "01_RES", format_tracks(tracks))
    shutil.copytree(src / "01_GT", tmp_path / "01_GT")
    r = evaluate_sequence(tmp_path, "01")
    assert r["SEG"] == pytest.approx(r["ctcmetrics"]["SEG"], abs=1e-9)
    assert r["DET"] == pytest.approx(r["ctcmetrics"]["DET"], abs=1e-9)
    assert 0.1 < r["SEG"] < 0.9 and 0 < r["ctcmetrics"]["TRA"] < 1
    assert r["OP_CSB"] == pytest.approx((r["SEG"] + r["DET"]) / 2)


def test_bad_sequences(tmp_path, tiny_model_dir, capsys):
    src = data_path("ctc/Fluo-N2DH-SIM+/01")
    gaps = tmp_path / "gaps"
    copy_frames(src, gaps, "01", 4)
    (gaps / "01" / "t002.tif").unlink()
    with pytest.raises(InputError, match="gaps: t002 missing"):
        sequence_frames(gaps / "01")
    mixed = tmp_path / "mixed"
    copy_frames(src, mixed, "01", 3)
    tifffile.imwrite(mixed / "01" / "t001.tif", np.zeros((100, 120), np.uint16))
    with pytest.raises(InputError, match="t001.tif: frame size 100x120 differs"):
        sequence_frames(mixed / "01")
    text = tmp_path / "text"
    copy_frames(src, text, "01", 3)
    (text / "01" / "t001.tif").write_text("not an image")
    for ds, problem in ((gaps, "gaps"), (mixed, "differs"), (text, "not a readable TIFF")):
        code = main(["ctc", "segment", str(ds), "--seq", "01", "--model", str(tiny_model_dir), "-q"])
        err = capsys.readouterr().err
        assert code == 2 and problem in err and "Traceback" not in err
        assert not (ds / "01_RES").exists(), "nothing may be written for a bad sequence"
    assert main(["ctc", "evaluate", str(gaps), "--seq", "01"]) == 2
    assert "01_GT: ground-truth folder not found" in capsys.readouterr().err


@pytest.mark.slow
def test_package_runs_end_to_end(tmp_path, tiny_model_dir):
    out = tmp_path / "submission"
    assert main(["ctc", "package", str(out), "--dataset", "Fluo-N2DH-SIM+", "--model", str(tiny_model_dir)]) == 0
    sw = out / "SW"
    assert sorted(p.name for p in sw.iterdir()) == [
        "Fluo-N2DH-SIM+-01.sh",
        "Fluo-N2DH-SIM+-02.sh",
        "README.md",
        "model",
        "setup.sh",
        "wheels",
    ]
    assert list((sw / "wheels").glob("cellseg-*.whl"))
    copy_frames(data_path("ctc/Fluo-N2DH-SIM+/01"), out / "Fluo-N2DH-SIM+", "01", 3)
    env = {**os.environ, "CELLSEG_PYTHON": sys.executable}
    proc = subprocess.run(
        ["bash", "./Fluo-N2DH-SIM+-01.sh"], cwd=sw, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = out / "Fluo-N2DH-SIM+" / "01_RES"
    assert sorted(p.name for p in res.iterdir()) == ["mask000.tif", "mask001.tif", "mask002.tif", "res_track.txt"]
    assert validate_result(res)
