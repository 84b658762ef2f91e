"""The large-image path (cellseg/large.py): lazy reading, block-by-block segmentation stitched across block
edges, and a tiled BigTIFF written tile by tile, giving the objects of the in-memory path."""

import numpy as np
import pytest
import tifffile

from cellseg.batch import segment_file
from cellseg.inference import Segmenter
from cellseg.large import LazyImage, segment_large

from .conftest import data_path


@pytest.fixture(scope="module")
def big_hela(tmp_path_factory):
    """A real HeLa frame tiled 2 x 2 (1400 x 2200), stored as a tiled zlib TIFF and as a plain one."""
    frame = tifffile.imread(data_path("ctc", "Fluo-N2DL-HeLa", "01", "t013.tif"))
    image = np.block([[frame, frame[:, ::-1]], [frame[::-1], frame[::-1, ::-1]]])
    folder = tmp_path_factory.mktemp("big")
    tifffile.imwrite(folder / "tiled.tif", image, tile=(256, 256), compression="zlib")
    tifffile.imwrite(folder / "plain.tif", image)
    return folder, image


def test_lazy_reading_gives_the_pixels_of_any_region(big_hela):
    folder, image = big_hela
    for name in ("tiled.tif", "plain.tif"):
        lazy = LazyImage(folder / name)
        assert lazy.size == image.shape
        np.testing.assert_array_equal(lazy.read(slice(300, 1333), slice(1000, 2200)), image[300:1333, 1000:2200])
        step = int(np.ceil(np.sqrt(image.size / 100_000)))
        np.testing.assert_array_equal(lazy.sample(100_000), image[::step, ::step])


@pytest.mark.slow
def test_blocks_stitched_across_edges_give_the_objects_of_the_whole_image(big_hela, tmp_path):
    folder, image = big_hela
    seg = Segmenter("default", device="cpu", block=512, diameter=20.0)
    whole = segment_file(seg, folder / "plain.tif", tmp_path / "whole.tif").cells  # under --large: in memory
    a = tifffile.imread(tmp_path / "whole.tif")
    n, diameter = segment_large(seg, folder / "tiled.tif", tmp_path / "large.tif")
    with tifffile.TiffFile(tmp_path / "large.tif") as tif:
        assert tif.is_bigtiff and tif.pages[0].is_tiled
        b = tif.asarray()
    assert b.shape == image.shape and b.dtype == np.uint16 and diameter == 20.0
    assert n == whole == int(b.max()) > 200
    assert ((a > 0) == (b > 0)).mean() > 0.9999
    pairs = np.unique(np.stack([a[(a > 0) & (b > 0)], b[(a > 0) & (b > 0)]]), axis=1)
    assert pairs.shape[1] == n  # one to one: every object of one is exactly one object of the other
    on_seams = [np.intersect1d(b[k - 1], b[k]) for k in (512, 1024)]
    assert sum(len(np.setdiff1d(s, [0])) for s in on_seams) > 5  # cells cut by block edges kept one id
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_a_file_above_the_large_threshold_takes_the_lazy_path(big_hela, tmp_path, tiny_model_dir):
    folder, image = big_hela
    seg = Segmenter(tiny_model_dir, device="cpu", block=512, large=1_000_000, diameter=20.0)
    segment_file(seg, folder / "tiled.tif", tmp_path / "out.tif")
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        assert tif.pages[0].is_tiled and tif.pages[0].shape == image.shape
