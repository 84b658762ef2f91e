"""Object size: median diameters, the size pass that estimates them, rescaling at inference and in training."""

import numpy as np
import pytest
from skimage.draw import disk
from skimage.measure import label
from skimage.transform import resize

from cellseg.size import estimate_diameter, median_diameter, refine_diameter


def disks(shape, radius, spacing, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.normal(10, 2, shape).astype(np.float32)
    lab = np.zeros(shape, np.int32)
    k = 0
    for y in range(radius + 2, shape[0] - radius - 2, spacing):
        for x in range(radius + 2, shape[1] - radius - 2, spacing):
            k += 1
            rr, cc = disk((y, x), radius, shape=shape)
            img[rr, cc] = 200
            lab[rr, cc] = k
    return img, lab


def test_median_diameter_of_disks():
    _, lab = disks((200, 200), 10, 30)
    assert median_diameter(lab) == pytest.approx(20, abs=0.7)
    assert median_diameter(np.zeros((5, 5), int)) is None


def oracle(crop, scale):
    """A stand-in network that finds bright objects only when they are 15-45 px across at its scale."""
    scaled = resize(crop, [max(16, round(n * scale)) for n in crop.shape], order=1, anti_aliasing=scale < 1)
    lab = label(scaled > 100)
    d = median_diameter(lab)
    if d is None or not 15 <= d <= 45:
        return np.zeros(crop.shape, np.int32)
    return resize(lab, crop.shape, order=0, preserve_range=True, anti_aliasing=False).astype(np.int32)


@pytest.mark.parametrize("radius", [5, 10, 20, 40])
def test_size_pass_estimates_the_diameter_at_any_scale(radius):
    img, lab = disks((600, 600), radius, 4 * radius)
    est = estimate_diameter(img, oracle, model_diameter=30)
    assert est == pytest.approx(median_diameter(lab), rel=0.15)


def test_refinement_measures_what_it_segments_at_the_estimate_and_leaves_out_cut_objects():
    img, lab = disks((1000, 1000), 10, 31)  # diameter about 20; the crop (768 px) cuts the disks at its edges

    def region_oracle(region, scale):
        return oracle(img[region], scale)

    assert refine_diameter(img.shape, 30.0, 1.0, region_oracle) == pytest.approx(median_diameter(lab), rel=0.05)

    def halves(region, scale):  # whole disks inside, and many more halved by the crop's left edge
        h, w = (s.stop - s.start for s in region)
        out = np.zeros((h, w), np.int32)
        for k in range(5):
            rr, cc = disk((100 + 60 * k, 300), 10, shape=(h, w))
            out[rr, cc] = k + 1
        for k in range(9):
            rr, cc = disk((40 + 60 * k, 0), 10, shape=(h, w))
            out[rr, cc] = k + 10
        return out

    assert refine_diameter(img.shape, 25.0, 1.0, halves) == pytest.approx(20, abs=1.0)
    assert refine_diameter((768, 768), 25.0, 1.0, halves) < 18  # the crop is the frame: nothing is cut
    nothing = lambda region, scale: np.zeros((10, 10), np.int32)  # noqa: E731
    assert refine_diameter(img.shape, 25.0, 1.0, nothing) == 25.0  # finds nothing: the estimate stands
    assert refine_diameter(img.shape, 90.0, 1.0, region_oracle) == 90.0  # more than 3x off: not trusted


def test_segmenter_rescales_and_resizes_probabilities_back(tiny_model_dir, blobs):
    from cellseg.inference import Segmenter

    img, _ = blobs
    seg = Segmenter(tiny_model_dir, device="cpu", diameter=12.0)
    chans = seg.channels(img.astype(np.float32))
    assert seg.scale_for(chans) == 1.0 and seg.last_diameter is None  # no model diameter: no size handling
    seg.model_diameter = 24.0
    assert seg.scale_for(chans) == pytest.approx(2.0) and seg.last_diameter == 12.0
    events = []
    labels = seg.segment(img, progress=events.append)
    assert labels.shape == img.shape
    assert events[-1].done == events[-1].total  # the plan follows the rescaled size
    probs = seg._probabilities((img / 255)[None], __import__("cellseg.inference").inference._Ticker(0, None), 2.0)
    assert probs.shape == (3, *img.shape)
    np.testing.assert_allclose(probs.sum(0), 1, atol=1e-4)


def test_training_samples_are_rescaled_to_the_model_diameter():
    pytest.importorskip("cv2")
    from cellseg.training.data import to_diameter

    img, lab = disks((300, 300), 15, 45)
    ign = np.zeros(lab.shape, bool)
    img2, lab2, ign2 = to_diameter(img, lab, ign, 20.0)
    assert median_diameter(lab2) == pytest.approx(20, rel=0.08)
    assert img2.shape == lab2.shape == ign2.shape and abs(img2.shape[0] - 200) <= 2
    same = to_diameter(img, lab, ign, None)
    assert same[1] is lab


def test_size_regression_learns_log_diameter_and_survives_json():
    import json

    from cellseg.size import SizeRegression

    rng = np.random.default_rng(0)
    d = np.exp(rng.uniform(np.log(8), np.log(200), 300))
    x = rng.normal(0, 1, (300, 20))
    x[:, 3] = 2 * np.log(d) + rng.normal(0, 0.05, 300)  # one informative feature among noise
    reg = SizeRegression.train(x[:250], d[:250], alpha=1.0)
    pred = np.array([reg.diameter(v) for v in x[250:]])
    assert np.median(np.abs(pred / d[250:] - 1)) < 0.05
    again = SizeRegression.from_dict(json.loads(json.dumps(reg.to_dict())))
    assert again.diameter(x[260]) == pytest.approx(reg.diameter(x[260]), rel=1e-4)
    with pytest.raises(ValueError, match="equal-length"):
        SizeRegression.from_dict({**reg.to_dict(), "coef": [1.0]})


def test_encoder_features_tell_object_size(tiny_model_dir):
    """Even an untrained encoder's pooled features separate sizes: a ridge fit on disks of some radii
    judges unseen radii (the mechanism the shipped size regression relies on)."""
    from cellseg.modelfile import load_model
    from cellseg.size import SizeRegression, size_features

    model, _ = load_model(tiny_model_dir)
    feats, diams = [], []
    for i, radius in enumerate([4, 6, 9, 13, 19, 28, 40]):
        for seed in range(3):
            img, lab = disks((400, 400), radius, int(3.2 * radius), seed=10 * i + seed)
            feats.append(size_features((img / 200)[None].astype(np.float32), model.unet.encoder))
            diams.append(median_diameter(lab))
    feats, diams = np.array(feats), np.array(diams)
    held = np.arange(len(diams)) % 3 == 2
    reg = SizeRegression.train(feats[~held], diams[~held], alpha=10.0)
    err = [abs(reg.diameter(f) / d - 1) for f, d in zip(feats[held], diams[held])]
    assert np.median(err) < 0.25


def test_segmenter_uses_the_models_size_regression(tiny_model_dir, blobs, tmp_path):
    import json
    import shutil

    from cellseg.errors import ModelFileError
    from cellseg.inference import Segmenter
    from cellseg.size import SizeRegression, size_features

    folder = tmp_path / "sized"
    shutil.copytree(tiny_model_dir, folder)
    meta = json.loads((folder / "config.json").read_text())
    probe = Segmenter(folder, device="cpu")
    img, _ = blobs
    width = len(size_features(probe.normalized(probe.channels(img)), probe.model.unet.encoder))
    reg = SizeRegression(np.zeros(width), np.ones(width), np.zeros(width), float(np.log(15.0)))
    meta.update(object_diameter=30, size_model=reg.to_dict())
    (folder / "config.json").write_text(json.dumps(meta))
    seg = Segmenter(folder, device="cpu")  # the default: the regression alone
    assert seg.scale_for(seg.channels(img)) == pytest.approx(2.0) and seg.last_diameter == pytest.approx(15.0)
    refined = Segmenter(folder, device="cpu", size_refine=True)  # segment a crop at 15 px and measure it
    seen = []

    def found(crop, scale):
        seen.append(scale)
        out = np.zeros(crop.shape[-2:], np.int32)
        for k in range(4):
            rr, cc = disk((20 + 25 * k, 40), 6, shape=out.shape)
            out[rr, cc] = k + 1
        return out

    expected = 30 / median_diameter(found(img, 1))
    seen.clear()
    refined._labels_at_scale = found
    assert refined.scale_for(refined.channels(img)) == pytest.approx(expected, rel=0.01)
    assert seen == [pytest.approx(2.0)]  # one pass, at the regression's scale
    meta["size_model"] = {**reg.to_dict(), "std": [0.0] * width}
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="bad size_model"):
        Segmenter(folder, device="cpu")


@pytest.mark.parametrize("bad", ["43", -1, 0, True, float("nan")])
def test_a_model_segments_at_its_segment_diameter_and_a_bad_one_is_a_one_line_error(
    tiny_model_dir, blobs, tmp_path, bad
):
    import json
    import shutil

    from cellseg.errors import ModelFileError
    from cellseg.inference import Segmenter

    folder = tmp_path / "zoomed"
    shutil.copytree(tiny_model_dir, folder)
    meta = json.loads((folder / "config.json").read_text())
    img, _ = blobs
    meta.update(object_diameter=30, segment_diameter=45)
    (folder / "config.json").write_text(json.dumps(meta))
    seg = Segmenter(folder, device="cpu", diameter=15.0)
    # objects of 15 px are brought to 45 px, not to the 30 px the network was trained at
    assert seg.scale_for(seg.channels(img)) == pytest.approx(3.0) == seg.last_scale
    labels = seg.segment(img)
    assert labels.shape == img.shape and seg.last_scale == pytest.approx(3.0)
    meta["segment_diameter"] = bad
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="bad segment_diameter") as e:
        Segmenter(folder, device="cpu")
    assert "\n" not in str(e.value) and str(folder) in str(e.value)


def test_working_scale_writes_the_best_mean_factor_as_segment_diameter(tiny_model_dir, tmp_path):
    import importlib.util
    import json
    import shutil
    from pathlib import Path

    from cellseg.inference import Segmenter

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "working_scale.py"
    spec = importlib.util.spec_from_file_location("working_scale", path)
    working_scale = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(working_scale)
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    before = json.loads((folder / "config.json").read_text())
    # the best mean is at x0.7: objects of 30 px trained are segmented at 30 / 0.7 = 43 px
    assert working_scale.write_segment_diameter(str(folder), 30.0, [1.0, 0.7, 0.5], [0.60, 0.63, 0.61]) == 43.0
    after = json.loads((folder / "config.json").read_text())
    assert after == {**before, "segment_diameter": 43.0}
    assert Segmenter(folder, device="cpu").segment_diameter == 43.0
