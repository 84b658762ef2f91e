"""The network's arithmetic: channels_last always, bf16 autocast where it pays, fp32 on request."""

import numpy as np
import pytest
import torch

from cellseg.cli import main
from cellseg.errors import CellsegError
from cellseg.inference import Segmenter, _Ticker, use_bf16
from cellseg.options import SegmentOptions


def test_precision_choice():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert use_bf16("bf16", cpu) and not use_bf16("fp32", cpu)
    assert use_bf16("auto", cuda) and not use_bf16("fp32", cuda)
    with pytest.raises(CellsegError, match="precision must be one of"):
        SegmentOptions(precision="fp16")


def test_bf16_probabilities_stay_close_to_fp32(tiny_model_dir, blobs):
    img, _ = blobs
    x = (img / 255)[None].astype(np.float32)
    fp32 = Segmenter(tiny_model_dir, device="cpu", precision="fp32")
    bf16 = Segmenter(tiny_model_dir, device="cpu", precision="bf16")
    assert bf16.bf16 and not fp32.bf16
    a = fp32._probabilities(x, _Ticker(0, None))
    b = bf16._probabilities(x, _Ticker(0, None))
    assert np.abs(a - b).max() < 0.05 and b.dtype == np.float32
    assert bf16.segment(img).shape == img.shape


def test_cli_takes_precision(tiny_model_dir, blobs, tmp_path, capsys):
    import tifffile

    img, _ = blobs
    tifffile.imwrite(tmp_path / "a.tif", img.astype(np.uint16))
    args = ["segment", str(tmp_path / "a.tif"), "-o", str(tmp_path / "out"), "--model", str(tiny_model_dir)]
    assert main([*args, "--precision", "bf16"]) == 0 and (tmp_path / "out" / "a.tif").is_file()
    with pytest.raises(SystemExit) as e:
        main([*args, "--precision", "half"])
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err
