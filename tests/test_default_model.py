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


def test_every_shipped_model_is_a_name_and_is_packaged(capsys):
    """A folder of cellseg/models (the default, earlier defaults kept by name) loads by its name, is listed
    by `cellseg models`, and goes into the wheel (pyproject's packages and package data)."""
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    from cellseg.cli import main
    from cellseg.modelfile import BUILTIN, MODELS_DIR, model_paths

    folders = sorted(d.name for d in MODELS_DIR.iterdir() if (d / "config.json").is_file())
    assert "default" in folders and sorted(BUILTIN) == folders
    setup = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert main(["models"]) == 0
    listed = capsys.readouterr().out
    for name in folders:
        weights, config = model_paths(name)
        assert weights.parent == config.parent == MODELS_DIR / name and weights.is_file()
        assert name in listed
        assert f"cellseg.models.{name}" in setup["packages"]
        assert set(setup["package-data"][f"cellseg.models.{name}"]) == {"config.json", "model.safetensors"}


def test_builtin_models_are_the_folders_with_a_config_and_none_when_the_folder_is_missing(tmp_path):
    from cellseg.modelfile import builtin_models

    assert builtin_models(tmp_path / "missing") == {}
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "config.json").write_text("{}")
    (tmp_path / "notes").mkdir()  # no config.json: not a model
    (tmp_path / "README.md").write_text("x")
    assert builtin_models(tmp_path) == {"v1": tmp_path / "v1"}
