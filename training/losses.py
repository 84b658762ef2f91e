"""Class-weighted cross-entropy plus a Dice term for the rare classes (interior, boundary)."""

from __future__ import annotations

import torch
from monai.losses import DiceLoss
from torch import nn

from cellseg.targets import IGNORE

REFERENCE_WEIGHTS = (1.0, 5.0, 10.0)  # background, interior, boundary (the reference recipe)


class SegLoss(nn.Module):
    def __init__(self, class_weights=REFERENCE_WEIGHTS, dice_weight: float = 1.0):
        super().__init__()
        w = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.ce = nn.CrossEntropyLoss(weight=w, ignore_index=IGNORE)
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
