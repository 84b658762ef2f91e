"""ONNX export, the onnxruntime inference path and int8 quantization (tiny model)."""

import numpy as np
import pytest

from cellseg.cli import main
from cellseg.errors import CellsegError
from cellseg.inference import Segmenter, _Ticker

pytest.importorskip("onnxruntime")


def test_exported_network_segments_like_pytorch(tiny_model_dir, blobs, tmp_path, capsys):
    import tifffile

    from cellseg.export import OnnxNetwork

    img, _ = blobs
    onnx, int8 = tmp_path / "m.onnx", tmp_path / "m8.onnx"
    tifffile.imwrite(tmp_path / "cal.tif", img.astype(np.uint16))
    args = ["export", str(tiny_model_dir), "--onnx", str(onnx), "--tile", "64"]
    assert main([*args, "--int8", str(int8), "--calibrate", str(tmp_path / "cal.tif")]) == 0
    out = capsys.readouterr().out
    diff = float(out.split("diff ")[1].split()[0])
    assert diff < 1e-3 and "calibrated on 4 tiles" in out
    assert OnnxNetwork(onnx).tile == 64 and int8.stat().st_size < onnx.stat().st_size
    x = (img / 255)[None].astype(np.float32)  # 96 x 120: tiles of 64 and smaller ones padded up
    torch_probs = Segmenter(tiny_model_dir, device="cpu", precision="fp32", tile=64)._probabilities(x, _Ticker(0, None))
    ort_seg = Segmenter(tiny_model_dir, device="cpu", onnx=str(onnx))
    ort_probs = ort_seg._probabilities(x, _Ticker(0, None))
    assert np.abs(torch_probs - ort_probs).max() < 1e-3
    assert Segmenter(tiny_model_dir, device="cpu", onnx=str(int8)).segment(img).shape == img.shape


def test_a_missing_or_broken_onnx_file_is_one_line(tiny_model_dir, blobs, tmp_path, capsys):
    img, _ = blobs
    with pytest.raises(CellsegError, match="no such ONNX file"):
        Segmenter(tiny_model_dir, device="cpu", onnx=str(tmp_path / "none.onnx")).segment(img)
    (tmp_path / "bad.onnx").write_bytes(b"garbage")
    with pytest.raises(CellsegError, match="not an ONNX network"):
        Segmenter(tiny_model_dir, device="cpu", onnx=str(tmp_path / "bad.onnx")).segment(img)
    assert main(["export", str(tiny_model_dir), "--onnx", str(tmp_path / "x.onnx"), "--tile", "60"]) == 2
    assert not (tmp_path / "x.onnx").exists() and "multiple of the network's stride" in capsys.readouterr().err
