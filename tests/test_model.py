"""One tester for every backbone: build, no BatchNorm left, forward/backward at odd sizes."""

import pytest
import torch
from torch import nn

from cellseg.model import ENCODERS, ModelConfig, batchnorm_to_groupnorm, build_model, group_count


def batchnorms(model):
    return [n for n, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@pytest.mark.parametrize("encoder", ENCODERS)
def test_backbone_groupnorm_aspp_odd_size(encoder):
    torch.manual_seed(0)
    model = build_model(encoder=encoder, decoder_channels=(64, 32, 16, 16, 8))
    assert batchnorms(model) == [], "BatchNorm left after group-norm conversion"
    assert any(isinstance(m, nn.GroupNorm) for m in model.modules())
    assert model.aspp is not None
    x = torch.randn(2, 1, 67, 93)
    y = model(x)
    assert y.shape == (2, 3, 67, 93)
    y.square().mean().backward()
    grads = [p.grad for p in model.unet.encoder.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_three_channels_no_aspp_and_batchnorm_option():
    model = build_model(
        encoder="resnet18", in_channels=3, aspp=False, norm="batch", encoder_depth=4, decoder_channels=(32, 16, 16, 8)
    )
    assert model.aspp is None
    assert batchnorms(model)  # batch norm kept when asked for
    assert model.eval()(torch.randn(1, 3, 50, 41)).shape == (1, 3, 50, 41)


def test_tiny_image_smaller_than_stride():
    model = build_model(encoder="resnet18", decoder_channels=(32, 16, 16, 8, 8)).eval()
    assert model(torch.randn(1, 1, 9, 13)).shape == (1, 3, 9, 13)


def test_groupnorm_keeps_affine_parameters_and_timm_activation():
    from timm.layers import BatchNormAct2d, GroupNormAct

    seq = nn.Sequential(nn.Conv2d(1, 64, 3), nn.BatchNorm2d(64), BatchNormAct2d(64, act_layer=nn.ReLU))
    with torch.no_grad():
        seq[1].weight.fill_(2.0)
        seq[1].bias.fill_(-1.0)
    batchnorm_to_groupnorm(seq)
    assert isinstance(seq[1], nn.GroupNorm) and seq[1].num_groups == 16
    assert torch.all(seq[1].weight == 2.0) and torch.all(seq[1].bias == -1.0)
    assert isinstance(seq[2], GroupNormAct) and isinstance(seq[2].act, nn.ReLU)
    assert group_count(16) == 4 and group_count(24) == 6 and group_count(256) == 32 and group_count(3) == 1


def test_local_pretrained_encoder_weights(tmp_path):
    """The weights path users with a network take (hub) is replaced here by a local safetensors file."""
    from safetensors.torch import save_file

    torch.manual_seed(1)
    source = build_model(encoder="resnet18", decoder_channels=(32, 16, 16, 8, 8), norm="batch")
    path = tmp_path / "encoder.safetensors"
    save_file({k: v.contiguous() for k, v in source.unet.encoder.state_dict().items()}, str(path))
    torch.manual_seed(2)
    model = build_model(
        encoder="resnet18", decoder_channels=(32, 16, 16, 8, 8), norm="batch", encoder_weights=str(path)
    )
    assert torch.equal(model.unet.encoder.conv1.weight, source.unet.encoder.conv1.weight)
    bad = tmp_path / "bad.safetensors"
    save_file({"nothing.here": torch.zeros(1)}, str(bad))
    with pytest.raises(ValueError, match="do not match"):
        build_model(encoder="resnet18", encoder_weights=str(bad))


def test_config_roundtrip_and_unknown_keys():
    cfg = ModelConfig(encoder="tu-resnet50d", decoder_channels=(8, 8, 8, 8, 8))
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        ModelConfig.from_dict({"encoderr": "x"})
