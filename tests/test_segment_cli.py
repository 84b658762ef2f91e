"""`cellseg segment` and the Segmenter on 2-D, RGB, multi-frame, 8/16-bit and float inputs."""

import numpy as np
import pytest
import tifffile

from cellseg.cli import main
from cellseg.inference import Segmenter, tiles_per_frame
from cellseg.io import read_image


def run(*args):
    return main([str(a) for a in args])


def test_segment_files_of_every_kind(tmp_path, tiny_model_dir, blobs):
    img, _ = blobs
    src = tmp_path / "in"
    src.mkdir()
    tifffile.imwrite(src / "gray8.tif", img.astype(np.uint8))
    tifffile.imwrite(src / "gray16.tif", (img * 100).astype(np.uint16))
    tifffile.imwrite(src / "float.tif", img / 255)
    tifffile.imwrite(src / "rgb.tif", np.stack([img] * 3, -1).astype(np.uint8))
    stack = np.stack([img, img[::-1], img[:, ::-1]]).astype(np.uint16)
    tifffile.imwrite(src / "stack.tif", stack, photometric="minisblack", metadata={"axes": "TYX"})
    import imageio.v3 as iio

    iio.imwrite(src / "photo.png", img.astype(np.uint8))
    out = tmp_path / "out"
    assert run("segment", src, "-o", out, "--model", tiny_model_dir, "--tile", 64, "--batch", 2, "-q") == 0
    for stem in ("gray8", "gray16", "float", "rgb", "photo"):
        lab = tifffile.imread(out / f"{stem}.tif")
        assert lab.shape == img.shape and lab.dtype == np.uint16, stem
    stack = tifffile.imread(out / "stack.tif")
    assert stack.shape == (3, *img.shape) and stack.dtype == np.uint16
    assert not list(out.glob(".*")), "temp files left behind"


def test_tiling_blends_and_matches_whole_image(tiny_model_dir, blobs):
    img, _ = blobs
    whole = Segmenter(tiny_model_dir, device="cpu", tile=512)
    tiled = Segmenter(tiny_model_dir, device="cpu", tile=64, overlap=0.5, batch=3)
    seen = []
    p_tiled = tiled.probabilities(img, progress=lambda e: seen.append((e.done, e.total)))
    p_whole = whole.probabilities(img)
    assert p_tiled.shape == (3, *img.shape)
    np.testing.assert_allclose(p_tiled.sum(0), 1, atol=1e-4)
    # tiles see less context, but blended probabilities stay close to the whole-image ones
    assert np.abs(p_tiled - p_whole).mean() < 0.1
    assert seen[-1][0] == seen[-1][1] == tiled.count_steps(img[None])
    assert tiles_per_frame((96, 120), 64, 0.5) == 2 * 3


def test_tta_averages_flips_and_device_choice(tiny_model_dir, blobs):
    import torch

    img, _ = blobs
    auto = Segmenter(tiny_model_dir, device="auto")
    assert auto.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    tta = Segmenter(tiny_model_dir, device="cpu", tta=True)
    plain = Segmenter(tiny_model_dir, device="cpu")
    manual = (
        plain.probabilities(img)
        + plain.probabilities(img[:, ::-1].copy())[:, :, ::-1]
        + plain.probabilities(img[::-1].copy())[:, ::-1]
    ) / 3
    np.testing.assert_allclose(tta.probabilities(img), manual, atol=1e-4)
    assert not np.allclose(plain.probabilities(img), manual, atol=1e-4), "flips must change something"
    if not torch.cuda.is_available():
        with pytest.raises(Exception, match="CUDA"):
            Segmenter(tiny_model_dir, device="cuda")


def test_rgb_is_luminance():
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[..., 1] = 100
    frames = read_image_from_array(rgb)
    assert frames.shape == (1, 16, 16) and np.allclose(frames, 58.7)


def read_image_from_array(arr):
    from cellseg.io import as_frames

    return as_frames(arr)


def test_default_model_ships_and_loads():
    from cellseg.modelfile import DEFAULT_MODEL, load_model

    weights = DEFAULT_MODEL / "model.safetensors"
    assert weights.is_file(), "the default model must ship inside the package"
    assert weights.stat().st_size <= 25 * 2**20
    model, meta = load_model("default")
    assert meta["format"] == "cellseg-model" and "training" in meta


def test_evaluate_cli_on_real_ctc_folder(tmp_path, capsys):
    import json

    from cellseg.baseline import otsu_watershed
    from cellseg.io import write_labels

    from .conftest import data_path

    seq = data_path("ctc/Fluo-N2DL-HeLa/01")
    gt = seq.parent / "01_GT" / "SEG"
    res = tmp_path / "01_RES"
    res.mkdir()
    for f in sorted(gt.glob("man_seg*.tif")):
        write_labels(res / f"mask{f.stem[7:]}.tif", otsu_watershed(read_image(seq / f"t{f.stem[7:]}.tif")[0]))
    assert main(["evaluate", str(gt), str(res), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["images"]) == {"man_seg013.tif", "man_seg052.tif", "man_seg075.tif", "man_seg079.tif"}
    assert 0.2 < report["overall"]["SEG"] < 0.95 and report["overall"]["n_ref"] == 859
    # the outputs of `cellseg segment` on the raw frames (tNNN.tif) pair with man_segNNN too
    for f in res.iterdir():
        f.rename(res / f"t{f.stem[4:]}.tif")
    assert main(["evaluate", str(gt), str(res), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["overall"]["n_ref"] == 859
    # a perfect prediction scores 1 everywhere
    assert main(["evaluate", str(gt / "man_seg013.tif"), str(gt / "man_seg013.tif")]) == 0
    assert "OVERALL" in capsys.readouterr().out
    assert main(["evaluate", str(gt), str(tmp_path)]) == 2  # no predictions there
    assert "no prediction for" in capsys.readouterr().err


def test_ctc_masks_names(tmp_path):
    from cellseg.ctc import mask_name, write_ctc_masks

    assert mask_name(7, 92) == "mask007.tif" and mask_name(7, 1000) == "mask0007.tif"
    paths = write_ctc_masks(tmp_path / "RES", np.ones((3, 8, 8), np.uint16))
    assert [p.name for p in paths] == ["mask000.tif", "mask001.tif", "mask002.tif"]
    with pytest.raises(ValueError, match="2-D or"):
        write_ctc_masks(tmp_path / "RES", np.ones((2, 2, 8, 8), np.uint16))


def test_core_install_pulls_no_qt():
    from importlib.metadata import requires

    core = [r for r in requires("cellseg") if "extra ==" not in r]
    assert core and not [r for r in core if any(q in r.lower() for q in ("napari", "qt", "magicgui"))]
    napari_extra = [r for r in requires("cellseg") if 'extra == "napari"' in r]
    assert any(r.startswith("napari") for r in napari_extra)
