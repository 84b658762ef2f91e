"""Class-weighted cross-entropy (optionally label-smoothed) plus a Dice term for the rare classes
(interior, boundary), and the minibatch mixing arms of the refinement study (CutMix, mixup)."""

from __future__ import annotations

import numpy as np
import torch
from monai.losses import DiceLoss
from torch import nn

from cellseg.targets import IGNORE

REFERENCE_WEIGHTS = (1.0, 5.0, 10.0)  # background, interior, boundary (the reference recipe)


class SegLoss(nn.Module):
    def __init__(self, class_weights=REFERENCE_WEIGHTS, dice_weight: float = 1.0, label_smoothing: float = 0.0):
        super().__init__()
        w = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.ce = nn.CrossEntropyLoss(weight=w, ignore_index=IGNORE, label_smoothing=label_smoothing)
        self.dice = DiceLoss(include_background=False, reduction="mean", smooth_nr=1.0, smooth_dr=1.0)
        self.dice_weight = dice_weight

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        loss = self.ce(logits, target)
        if self.dice_weight:
            valid = (target != IGNORE).unsqueeze(1)
            probs = torch.softmax(logits, dim=1) * valid
            onehot = nn.functional.one_hot(torch.where(valid[:, 0], target, 0), logits.shape[1])
            onehot = onehot.permute(0, 3, 1, 2).to(probs.dtype) * valid
            loss = loss + self.dice_weight * self.dice(probs, onehot)
        return loss


def mix_batch(x: torch.Tensor, y: torch.Tensor, rng, cutmix: float = 0.0, mixup: float = 0.0, band: int = 2):
    """Mix a minibatch with a shuffled copy of itself: with probability ``cutmix`` a random box of every
    crop (area fraction 1 - lam, lam ~ U(0, 1)) is replaced by the partner crop's image and target, and
    target pixels within ``band`` of the box edge are ignored (a cell cut by the box has no true boundary
    there); else with probability ``mixup`` images are blended, x = lam x + (1 - lam) x_partner, lam ~
    Beta(0.4, 0.4), and the loss is blended the same way. Returns (x, y, y_partner or None, lam): the loss
    is ``lam * L(y) + (1 - lam) * L(y_partner)`` when y_partner is given, else ``L(y)``. ``rng`` is a numpy
    Generator (seeded per step, so a resumed run mixes as an uninterrupted one)."""
    n = x.shape[0]
    if n < 2 or (not cutmix and not mixup):
        return x, y, None, 1.0
    perm = torch.as_tensor(np.roll(np.arange(n), 1 + int(rng.integers(n - 1))), device=x.device)
    u = rng.random()
    if u < cutmix:
        h, w = y.shape[-2:]
        lam = float(rng.random())
        bh, bw = int(round(h * np.sqrt(1 - lam))), int(round(w * np.sqrt(1 - lam)))
        if bh < 2 * band + 2 or bw < 2 * band + 2:
            return x, y, None, 1.0
        top, left = int(rng.integers(h - bh + 1)), int(rng.integers(w - bw + 1))
        x, y = x.clone(), y.clone()
        x[..., top : top + bh, left : left + bw] = x[perm][..., top : top + bh, left : left + bw]
        y[..., top : top + bh, left : left + bw] = y[perm][..., top : top + bh, left : left + bw]
        edge = torch.zeros((h, w), dtype=torch.bool, device=y.device)
        edge[max(0, top - band) : top + bh + band, max(0, left - band) : left + bw + band] = True
        edge[top + band : top + bh - band, left + band : left + bw - band] = False
        y[:, edge] = IGNORE
        return x, y, None, 1.0
    if u < cutmix + mixup:
        lam = float(rng.beta(0.4, 0.4))
        return lam * x + (1 - lam) * x[perm], y, y[perm], lam
    return x, y, None, 1.0
