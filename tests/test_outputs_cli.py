"""What a user gets beside the labels (overlay PNG, measurements CSV, Fiji ROIs, summary.csv), Cellpose's
flags understood, help with defaults, --version, plain progress lines in logs."""

import csv
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from cellseg.cellpose_flags import translate
from cellseg.cli import build_parser, main

SAMPLE = Path(__file__).resolve().parents[1] / "cellseg" / "samples" / "nuclei_dsb2018.tif"


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def segmented(tmp_path_factory):
    """The shipped model on the shipped nuclei sample (real cells), every extra output asked for."""
    out = tmp_path_factory.mktemp("out")
    assert main(["segment", str(SAMPLE), "-o", str(out), "--save-png", "--save-csv", "--save-rois", "-q"]) == 0
    return out


def test_measurements_rois_overlay_and_summary_describe_the_labels(segmented):
    from roifile import roiread

    labels = tifffile.imread(segmented / "nuclei_dsb2018.tif")
    image = tifffile.imread(SAMPLE)
    n = int(labels.max())
    assert n > 50
    table = rows(segmented / "nuclei_dsb2018_cells.csv")
    assert [int(r["label"]) for r in table] == list(range(1, n + 1))
    areas = np.bincount(labels.ravel())[1:]
    assert [float(r["area"]) for r in table] == areas.tolist()
    k = int(np.argmax(areas))  # the biggest cell: its mean intensity and centroid from the pixels
    mask = labels == k + 1
    assert float(table[k]["mean_intensity_ch1"]) == pytest.approx(image[mask].mean(), rel=1e-4)
    assert float(table[k]["centroid_y"]) == pytest.approx(np.argwhere(mask)[:, 0].mean(), rel=1e-4)
    for key in ("bbox_min_x", "equivalent_diameter", "eccentricity", "solidity", "max_intensity_ch1"):
        assert key in table[0]
    rois = roiread(segmented / "nuclei_dsb2018_rois.zip")
    assert len(rois) == n and rois[k].name == f"{k + 1:05d}"
    xy = rois[k].coordinates()
    ys, xs = np.nonzero(mask)
    assert xs.min() - 1 <= xy[:, 0].min() and xy[:, 0].max() <= xs.max() + 1  # the outline hugs the cell
    overlay = iio.imread(segmented / "nuclei_dsb2018_outlines.png")
    assert overlay.shape == (*labels.shape, 3) and overlay.dtype == np.uint8
    outline = (overlay == [255, 230, 0]).all(-1)
    assert outline[labels == 0].sum() == 0 and outline.sum() > 4 * n  # outlines lie on the cells' edges
    (row,) = rows(segmented / "summary.csv")
    assert row["cells"] == str(n) and row["error"] == ""
    median = np.median(np.sqrt(4 * areas / np.pi))
    assert float(row["median_diameter_px"]) == pytest.approx(median, abs=0.01)
    assert float(row["seconds"]) > 0
    assert not list(segmented.glob(".*"))  # written atomically: no temporaries left


def test_summary_lists_failures_and_an_empty_image_gets_a_header_only_table(tmp_path, tiny_model_dir):
    src = tmp_path / "in"
    src.mkdir()
    tifffile.imwrite(src / "flat.tif", np.zeros((64, 64), np.uint16))
    (src / "broken.tif").write_bytes(b"no tiff")
    out = tmp_path / "out"
    args = ["segment", str(src), "-o", str(out), "--model", str(tiny_model_dir), "--min-size", "5000"]
    assert main([*args, "--save-csv", "-q"]) == 1  # no object is that big: no cells
    table = {Path(r["image"]).name: r for r in rows(out / "summary.csv")}
    assert table["flat.tif"]["cells"] == "0" and table["broken.tif"]["cells"] == ""
    assert "not a readable" in table["broken.tif"]["error"]
    assert rows(out / "flat_cells.csv") == [] and (out / "flat_cells.csv").read_text().startswith("label,area")


def test_extras_never_overwrite_an_input(tmp_path, tiny_model_dir, capsys):
    src = tmp_path / "in"
    src.mkdir()
    tifffile.imwrite(src / "a.tif", np.zeros((64, 64), np.uint16))
    (src / "a_labels_cells.csv").write_text("precious")  # an input named like an output
    args = ["segment", str(src / "a.tif"), str(src / "a_labels_cells.csv"), "-o", str(src), "--suffix", "_labels"]
    assert main([*args, "--model", str(tiny_model_dir), "--save-csv"]) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert (src / "a_labels_cells.csv").read_text() == "precious"


def test_cellpose_flags_mean_what_they_mean_in_cellpose():
    argv, notes = translate(
        ["--dir", "IMGS", "--savedir", "OUT", "--diameter", "30", "--chan", "2", "--chan2", "3", "--use_gpu"]
        + ["--pretrained_model", "my/model", "--save_png", "--min_size", "20", "--cellprob_threshold", "-2"]
        + ["--flow_threshold", "0.4", "--no_npy", "--save_tif", "--norm_percentile", "1", "99"]
    )
    args = build_parser().parse_args(argv)
    assert args.command == "segment" and args.inputs == ["IMGS"] and args.out == "OUT"
    assert (args.diameter, args.chan, args.chan2, args.device, args.model) == (30.0, 2, 3, "cuda", "my/model")
    assert args.save_png and args.min_size == 20
    assert args.interior_threshold == pytest.approx(np.tanh(-1.0), abs=1e-4)
    assert len(notes) == 5 and all(len(n.splitlines()) == 1 for n in notes)
    assert any("--flow_threshold 0.4: ignored" in n for n in notes)
    assert any("--norm_percentile 1 99: ignored" in n for n in notes)
    argv, notes = translate(["segment", "x", "-o", "y", "--pretrained_model", "cyto3", "--gpu_device", "1"])
    args = build_parser().parse_args(argv)
    assert args.model == "default" and args.device == "cuda:1" and "cyto3" in notes[0]
    assert translate(["train", "c.yaml", "--steps", "5"]) == (["train", "c.yaml", "--steps", "5"], [])


def test_help_shows_defaults_and_version(capsys):
    from cellseg import __version__

    with pytest.raises(SystemExit):
        main(["segment", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 512)" in text and "(default: 15)" in text and "(default: 0.0)" in text
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"cellseg {__version__}"


def test_progress_in_a_log_file_is_plain_lines(tmp_path, tiny_model_dir, blobs, capsys):
    img, _ = blobs
    for k in range(3):
        tifffile.imwrite(tmp_path / f"i{k}.tif", img.astype(np.uint16))
    assert main(["segment", *(str(tmp_path / f"i{k}.tif") for k in range(3)), "-o", str(tmp_path / "o"),
                 "--model", str(tiny_model_dir), "-v"]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert "\r" not in captured.err and "\r" not in captured.out
    assert "images: 3/3 img" in captured.err
    assert "model " in captured.out and " s" in captured.out  # --verbose: settings and seconds


def test_the_parser_defaults_are_the_options_defaults():
    from cellseg.cli import SEGMENT_FLAGS
    from cellseg.options import DEFAULTS

    args = build_parser().parse_args(["segment", "x", "-o", "y"])
    for name in SEGMENT_FLAGS:
        assert getattr(args, name) == getattr(DEFAULTS, name), name
    assert build_parser().parse_args(["segment", "x", "-o", "y", "--no-fill-holes"]).fill_holes is False
