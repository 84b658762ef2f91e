"""Channels as Cellpose users choose them (--chan / --chan2), stained slides, two-channel models."""

from pathlib import Path

import numpy as np
import pytest
import tifffile

from cellseg.channels import hematoxylin, looks_stained, select
from cellseg.cli import main
from cellseg.errors import CellsegError, InputError
from cellseg.io import as_channels, read_channels, read_image

SAMPLES = Path(__file__).resolve().parents[1] / "cellseg" / "samples"


def run(*argv) -> int:
    return main([str(a) for a in argv])


@pytest.fixture(scope="module")
def tiny_two_channel_dir(tmp_path_factory):
    import torch

    from cellseg.model import build_model
    from cellseg.modelfile import save_model

    torch.manual_seed(0)
    model = build_model(encoder="resnet18", in_channels=2, encoder_depth=3, decoder_channels=(16, 16, 8))
    return save_model(model, tmp_path_factory.mktemp("tiny2") / "model", rgb="hematoxylin")


def test_cellpose_channel_numbering_on_rgb_arrays():
    rgb = np.zeros((1, 20, 30, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 10, 20, 30
    signal, nuclear = select(rgb, "rgb", "x.png", chan=2, chan2=3)
    assert (signal == 20).all() and (nuclear == 30).all()
    gray, none = select(rgb, "rgb", "x.png")
    assert none is None and np.allclose(gray, 0.299 * 10 + 0.587 * 20 + 0.114 * 30)
    with pytest.raises(InputError, match="--chan2 4 asked for, but the image has 3 channel"):
        select(rgb, "rgb", "x.png", chan2=4)


def test_stained_slides_become_hematoxylin_only_for_models_trained_so():
    from PIL import Image

    he = np.asarray(Image.open(SAMPLES / "he_tissue.jpg"))
    assert looks_stained(he[None])
    grey_as_rgb = np.repeat(he.mean(-1, keepdims=True).astype(np.uint8), 3, -1)
    assert not looks_stained(grey_as_rgb[None])  # channels equal: not a stain
    fluo = np.zeros_like(he)
    fluo[..., 2] = he[..., 0] // 4  # a dark-background composite
    assert not looks_stained(fluo[None])
    lum = read_image(SAMPLES / "he_tissue.jpg")[0]
    hem = read_image(SAMPLES / "he_tissue.jpg", rgb="hematoxylin")[0]
    np.testing.assert_allclose(hem, hematoxylin(he[None])[0])
    # nuclei are dark purple on a pale slide: in hematoxylin they turn bright, as in fluorescence
    dark = lum < np.percentile(lum, 10)
    assert hem[dark].mean() > hem[~dark].mean() + 2 * hem.std() / 3


def test_nuclear_channel_from_a_tiff_reaches_a_two_channel_model(tmp_path, tiny_two_channel_dir, blobs):
    from cellseg.inference import Segmenter

    img, _ = blobs
    cyx = np.stack([img, img * 0.5]).astype(np.uint16)
    tifffile.imwrite(tmp_path / "two.tif", cyx, imagej=True, metadata={"axes": "CYX"})
    signal, nuclear = read_channels(tmp_path / "two.tif", chan=1, chan2=2)
    np.testing.assert_array_equal(signal[0], cyx[0])
    np.testing.assert_array_equal(nuclear[0], cyx[1])
    seg = Segmenter(tiny_two_channel_dir, device="cpu")
    assert seg.in_channels == 2 and seg.rgb == "hematoxylin"
    with_nuclei = seg.probabilities(signal[0], nuclear=nuclear[0])
    without = seg.probabilities(signal[0])
    assert with_nuclei.shape == without.shape == (3, *img.shape)
    assert not np.allclose(with_nuclei, without)  # the nuclear channel is seen, absent means zeros
    with pytest.raises(CellsegError, match="differs from the image"):
        seg.segment(signal, nuclear=nuclear[:, :10])
    assert run("segment", tmp_path / "two.tif", "-o", tmp_path / "out", "--chan", 1, "--chan2", 2,
               "--model", tiny_two_channel_dir, "-q") == 0  # fmt: skip
    assert tifffile.imread(tmp_path / "out" / "two.tif").shape == img.shape


def test_arrays_pick_channels_like_files():
    arr = np.random.default_rng(0).integers(0, 255, (2, 16, 16, 4)).astype(np.uint8)  # (T, Y, X, C)
    signal, nuclear = as_channels(arr, chan=4, chan2=1)
    np.testing.assert_array_equal(signal, arr[..., 3])
    np.testing.assert_array_equal(nuclear, arr[..., 0])
    with pytest.raises(InputError, match="no channel axis"):
        as_channels(arr[0, ..., 0], chan2=1)


def test_synthetic_nuclei_give_one_core_per_cell_inside_it(blobs):
    from scipy import ndimage as ndi

    from cellseg.training.augment import synthetic_nuclei

    _, lab = blobs
    nuc = synthetic_nuclei(lab, np.random.default_rng(1), noise=0.0)
    cores, n = ndi.label(nuc > 0.15)
    assert n == lab.max()
    for i in range(1, n + 1):
        owners = np.unique(lab[cores == i])
        assert len(owners) == 1 and owners[0] > 0  # inside exactly one cell
        assert (cores == i).sum() < 0.5 * (lab == owners[0]).sum()  # a core, not the cell


def test_two_channel_crops_show_the_nuclear_channel_half_the_time(blobs):
    import itertools

    from cellseg.datasets import Sample
    from cellseg.training.data import RandomCrops

    img, lab = blobs
    sample = Sample(img, lab.astype(np.int32), "d", "d/0")
    crops = RandomCrops([sample], 64, channels=2, synthetic=True)
    xs = [x for x, _ in itertools.islice(iter(crops), 40)]
    assert all(x.shape == (2, 64, 64) for x in xs)
    shown = sum(bool(x[1].abs().max() > 0) for x in xs)
    assert 8 <= shown <= 32
    plain = RandomCrops([sample], 64, channels=2, synthetic=False)
    assert all(not x[1].any() for x, _ in itertools.islice(iter(plain), 10))
    assert next(iter(RandomCrops([sample], 64)))[0].shape == (1, 64, 64)
