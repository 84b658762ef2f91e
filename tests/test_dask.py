"""Batch segmentation spread over a Dask cluster gives the same files as the one-process run."""

import numpy as np
import pytest
import tifffile

from cellseg.cli import main

pytest.importorskip("distributed")


@pytest.mark.slow
def test_two_worker_cluster_matches_the_single_process_run(tiny_model_dir, blobs, tmp_path, capsys):
    img, _ = blobs
    src = tmp_path / "in"
    src.mkdir()
    for k in range(4):
        tifffile.imwrite(src / f"img{k}.tif", np.roll(img, 7 * k, axis=1).astype(np.uint16))
    (src / "broken.tif").write_bytes(b"not a tiff")
    common = [str(src), "--model", str(tiny_model_dir), "--device", "cpu", "-q"]
    assert main(["segment", *common, "-o", str(tmp_path / "one")]) == 1  # the broken file fails, alone
    capsys.readouterr()
    assert main(["segment", *common, "-o", str(tmp_path / "two"), "--dask", "local:2"]) == 1
    err = capsys.readouterr().err
    assert "segmented 4 of 5 inputs" in err and "broken.tif" in err
    for k in range(4):
        one = tifffile.imread(tmp_path / "one" / f"img{k}.tif")
        two = tifffile.imread(tmp_path / "two" / f"img{k}.tif")
        np.testing.assert_array_equal(one, two)
    assert not (tmp_path / "two" / "broken.tif").exists()


@pytest.mark.slow
def test_an_unreachable_scheduler_is_one_line(tiny_model_dir, blobs, tmp_path, capsys):
    img, _ = blobs
    tifffile.imwrite(tmp_path / "a.tif", img.astype(np.uint16))
    args = ["segment", str(tmp_path / "a.tif"), "-o", str(tmp_path / "o"), "--model", str(tiny_model_dir)]
    assert main([*args, "--dask", "tcp://127.0.0.1:9"]) == 2
    assert "cannot reach the scheduler" in capsys.readouterr().err


@pytest.mark.slow
def test_blocks_of_a_large_image_on_two_workers_match_the_single_process_run(tmp_path, capsys):
    """A real HeLa frame tiled 2 x 2 (1400 x 2200) above --large: its blocks go to the workers, the
    stitched labels are those of one process."""
    from .conftest import data_path

    frame = tifffile.imread(data_path("ctc", "Fluo-N2DL-HeLa", "01", "t013.tif"))
    image = np.block([[frame, frame[:, ::-1]], [frame[::-1], frame[::-1, ::-1]]])
    src = tmp_path / "in"
    src.mkdir()
    tifffile.imwrite(src / "big.tif", image, tile=(256, 256), compression="zlib")
    tifffile.imwrite(src / "small.tif", frame)
    common = [str(src), "--device", "cpu", "-q", "--large", "1000000", "--block", "512", "--diameter", "20"]
    assert main(["segment", *common, "-o", str(tmp_path / "one")]) == 0
    assert main(["segment", *common, "-o", str(tmp_path / "two"), "--dask", "local:2"]) == 0
    assert "segmented 2 of 2 inputs" in capsys.readouterr().err
    for name in ("big.tif", "small.tif"):
        one, two = tifffile.imread(tmp_path / "one" / name), tifffile.imread(tmp_path / "two" / name)
        assert one.max() > 50
        np.testing.assert_array_equal(one, two)
    with tifffile.TiffFile(tmp_path / "two" / "big.tif") as tif:
        assert tif.pages[0].is_tiled  # the large-image path wrote it
    assert not list((tmp_path / "two").glob(".*"))  # no block files left behind
