"""The shipped default model on real held-out frames (see the README model card for the split)."""

import pytest

from cellseg.baseline import otsu_watershed
from cellseg.inference import Segmenter
from cellseg.io import read_image, read_labels
from cellseg.metrics import evaluate_pair

from .conftest import data_path

# validation frames: never trained on (training/configs/ablation/base.yaml)
HELD_OUT = [
    ("ctc/Fluo-N2DL-HeLa/01/t075.tif", "ctc/Fluo-N2DL-HeLa/01_GT/SEG/man_seg075.tif"),
    ("ctc/Fluo-N2DH-SIM+/01/t060.tif", "ctc/Fluo-N2DH-SIM+/01_GT/SEG/man_seg060.tif"),
    ("ctc/Fluo-N2DH-GOWT1/02/t052.tif", "ctc/Fluo-N2DH-GOWT1/02_GT/SEG/man_seg052.tif"),
    # modalities the previous default never saw (it scored 0.00 and 0.01 on these sets)
    ("folders/cpm15-he/images/image10.tif", "folders/cpm15-he/labels/image10.tif"),  # H&E tissue nuclei
    ("folders/bbbc030-dic-cho/images/cho07.tif", "folders/bbbc030-dic-cho/labels/cho07.tif"),  # DIC whole cells
]


@pytest.fixture(scope="module")
def segmenter():
    return Segmenter("default", device="cpu")


@pytest.mark.parametrize("image,gt", HELD_OUT, ids=[h[0].split("/")[1] for h in HELD_OUT])
def test_default_model_beats_classical_baseline(segmenter, image, gt):
    img = read_image(data_path(image), rgb=segmenter.rgb)[0]
    ref = read_labels(data_path(gt))
    ours = evaluate_pair(ref, segmenter.segment(img))
    base = evaluate_pair(ref, otsu_watershed(img))
    assert ours["SEG"] > base["SEG"] and ours["SEG"] > 0.5, (ours, base)
