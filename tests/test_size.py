"""Object size: median diameters, the size pass that estimates them, rescaling at inference and in training."""

import numpy as np
import pytest
from skimage.draw import disk
from skimage.measure import label
from skimage.transform import resize

from cellseg.size import estimate_diameter, median_diameter


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
