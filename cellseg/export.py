"""Export a model's network to ONNX, quantize it to int8, and run it in onnxruntime.

    cellseg export MODEL --onnx OUT.onnx [--tile 512] [--int8 OUT_INT8.onnx --calibrate IMAGE...]

The ONNX file holds the network for tiles of ``tile`` x ``tile`` pixels (any batch size); smaller tiles
are padded up to it at inference. The model folder still supplies everything around the network
(normalization, channels, object size and the size regression), so inference takes both:
``cellseg segment ... --model MODEL --onnx OUT.onnx``. int8 is static quantization (QDQ, per-channel
weights) calibrated on tiles of a few real images, through onnxruntime's quantization tools.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .atomic import atomic_write
from .errors import CellsegError


def export_onnx(model="default", out="model.onnx", tile: int = 512, opset: int = 17) -> float:
    """Write the network as ONNX (atomically); returns the largest |logit| difference between
    onnxruntime and PyTorch on a random batch of two tiles (a check that the export is faithful)."""
    import torch

    from .modelfile import load_model

    net, _ = load_model(model)
    if tile % net.stride:
        raise CellsegError(f"--tile {tile} must be a multiple of the network's stride ({net.stride})")
    x = torch.randn(1, net.config.in_channels, tile, tile)

    def write(tmp):
        torch.onnx.export(
            net,
            (x,),
            tmp,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )

    atomic_write(Path(out), write)
    batch = torch.randn(2, net.config.in_channels, tile, tile)
    with torch.no_grad():
        ref = net(batch).numpy()
    got = OnnxNetwork(out).logits(batch.numpy())
    return float(np.abs(got - ref).max())


def quantize_int8(onnx_in, out, tiles: list[np.ndarray]) -> None:
    """Static int8 quantization of an exported network, calibrated on ``tiles`` ((C, tile, tile) float32
    network inputs, normalized as the Segmenter does)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"image": t[None].astype(np.float32)} for t in tiles])

        def get_next(self):
            return next(self.items, None)

    def write(tmp):
        quantize_static(
            str(onnx_in),
            tmp,
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            # convolutions only: group norm's reductions and the softmax-bound head stay in float
            op_types_to_quantize=["Conv"],
        )

    atomic_write(Path(out), write)


def calibration_tiles(seg, images: list, tile: int, per_image: int = 4, seed: int = 0) -> list[np.ndarray]:
    """Random ``tile`` x ``tile`` network inputs from real images, as the Segmenter normalizes them
    (at the scale the model's size handling would run each image)."""
    import torch

    from .inference import resize_by
    from .io import read_channels

    rng = np.random.default_rng(seed)
    out = []
    for path in images:
        frames, nuclear = read_channels(path, rgb=seg.rgb)
        chans = seg.channels(frames[0], None if nuclear is None else nuclear[0])
        ranges = seg.ranges(chans)
        x = torch.from_numpy(seg.normalized(chans, ranges=ranges))[None]
        x = resize_by(x, seg.scale_for(chans, ranges))[0].numpy()
        pad = [(0, 0)] + [(0, max(0, tile - n)) for n in x.shape[-2:]]
        x = np.pad(x, pad, mode="reflect" if all(n > tile // 2 for n in x.shape[-2:]) else "edge")
        for _ in range(per_image):
            y0 = int(rng.integers(0, x.shape[-2] - tile + 1))
            x0 = int(rng.integers(0, x.shape[-1] - tile + 1))
            out.append(np.ascontiguousarray(x[:, y0 : y0 + tile, x0 : x0 + tile], dtype=np.float32))
    return out


class OnnxNetwork:
    """An exported network in onnxruntime: (N, C, h, w) float32 -> logits, any h, w up to its tile
    (smaller tiles are padded by edge replication and cropped back)."""

    def __init__(self, path, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise CellsegError("--onnx needs onnxruntime (pip install onnxruntime)") from None
        if not Path(path).is_file():
            raise CellsegError(f"{path}: no such ONNX file (make one with `cellseg export MODEL --onnx {path}`)")
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own types for a bad file
            raise CellsegError(f"{path}: not an ONNX network onnxruntime can run ({str(e).splitlines()[0]})") from None
        shape = self.session.get_inputs()[0].shape
        self.channels, self.tile = int(shape[1]), int(shape[2])

    def logits(self, batch: np.ndarray) -> np.ndarray:
        h, w = batch.shape[-2:]
        if batch.shape[1] != self.channels:
            raise CellsegError(f"the ONNX network takes {self.channels} channels, the model gives {batch.shape[1]}")
        if h > self.tile or w > self.tile:
            raise CellsegError(f"tile {h}x{w} exceeds the ONNX network's {self.tile}x{self.tile}")
        if (h, w) != (self.tile, self.tile):
            batch = np.pad(batch, [(0, 0), (0, 0), (0, self.tile - h), (0, self.tile - w)], mode="edge")
        out = self.session.run(None, {"image": np.ascontiguousarray(batch, dtype=np.float32)})[0]
        return out[..., :h, :w]
