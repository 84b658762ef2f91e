"""Augmentation with albumentations: geometry on image + instance labels + ignore mask together
(nearest-neighbour for the masks), then intensity changes on the image alone."""

from __future__ import annotations

import albumentations as A
import cv2


def train_transform(crop: int, scale: tuple[float, float] = (0.7, 1.4)) -> A.Compose:
    return A.Compose(
        [
            A.PadIfNeeded(crop, crop, border_mode=cv2.BORDER_REFLECT_101),
            A.RandomCrop(crop, crop),
            A.Affine(
                scale=scale,
                rotate=(-180, 180),
                shear=(-8, 8),
                p=0.75,
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=cv2.INTER_NEAREST,
                border_mode=cv2.BORDER_REFLECT_101,
            ),
            A.HorizontalFlip(),
            A.VerticalFlip(),
            A.RandomRotate90(),
            A.RandomBrightnessContrast(0.2, 0.3, p=0.7),
            A.GaussNoise(std_range=(0.0, 0.06), p=0.4),
            A.GaussianBlur(blur_limit=(3, 5), p=0.25),
        ]
    )
