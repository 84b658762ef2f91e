import os
from pathlib import Path

import numpy as np
import pytest

DATA = Path(os.environ.get("CELLSEG_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def data_path(*parts) -> Path:
    p = DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data not found at {p} (set CELLSEG_DATA)")
    return p


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A small, untrained model saved as a cellseg model folder (fast on CPU)."""
    import torch

    from cellseg.model import build_model
    from cellseg.modelfile import save_model

    torch.manual_seed(0)
    model = build_model(encoder="resnet18", encoder_depth=3, decoder_channels=(16, 16, 8), aspp=True)
    return save_model(model, tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture()
def blobs():
    """A synthetic image with bright disks and its labels."""
    from skimage.draw import disk

    img = np.full((96, 120), 10.0, np.float32)
    lab = np.zeros((96, 120), np.uint16)
    for i, (y, x) in enumerate([(25, 25), (25, 60), (60, 40), (70, 95)], start=1):
        rr, cc = disk((y, x), 12, shape=img.shape)
        img[rr, cc] = 200
        lab[rr, cc] = i
    return img, lab


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow (CI does)")


def pytest_collection_modifyitems(config, items):
    """The quick run (plain ``pytest``) skips tests marked slow; ``--runslow`` runs everything."""
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


if os.environ.get("CELLSEG_TEST_THREADS"):
    import torch

    torch.set_num_threads(int(os.environ["CELLSEG_TEST_THREADS"]))
