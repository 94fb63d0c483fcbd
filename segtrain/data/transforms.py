"""Augmentation and normalisation pipelines built from the ``augment`` config group.

Shared by both engines so that a DeepLabV3 run and an ENet run see the same data
distribution for the same config. Images come in as uint8 RGB and leave as normalised
float32 at exactly ``image_size``; masks leave as int64 with ``ignore_index`` wherever
augmentation invented pixels (padding after a down-scale, corners after a rotation), so
those pixels never count in the loss.

Meaning of the ``augment`` keys (see ``AugmentConfig``):
``hflip`` probability of a horizontal flip; ``scale_min``/``scale_max`` random zoom
range, followed by a random pad/crop back to ``image_size``; ``rotate_limit`` degrees
(uniform in +-limit); ``brightness_contrast`` max relative brightness/contrast change
(applied with p=0.8); ``hue_saturation`` strength in [0, 1] (hue +-50*s, saturation
+-100*s, p=0.5); ``blur`` and ``noise`` are probabilities of a mild Gaussian blur and
Gaussian sensor noise.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np
from omegaconf import OmegaConf

from segtrain.config import AugmentConfig
from segtrain.data.encode import resize_image, resize_mask
from segtrain.errors import ConfigError


def _import_albumentations():
    """albumentations 2.0.8 does ``from .pytorch import *`` (importing torch, ~1.5 s) when
    torch is installed. ``segtrain.data`` must not pull a framework into the Keras
    engine's process, so torch is hidden while albumentations imports, unless the caller
    already imported it (the torch engine). It also never phones home for updates."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    if "albumentations" in sys.modules or "torch" in sys.modules:
        import albumentations

        return albumentations
    sys.modules["torch"] = None  # type: ignore[assignment]  # makes `import torch` fail
    try:
        import albumentations
    finally:
        if sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]
    return albumentations


A = _import_albumentations()

Transform = Callable[[np.ndarray, np.ndarray | None], tuple[np.ndarray, np.ndarray | None]]


class SegTransform:
    """Picklable callable ``(image, mask) -> (float32 image, int64 mask)``.

    Forked DataLoader workers inherit one random state; the first call in a new process
    reseeds from Python's ``random`` (which PyTorch seeds per worker), so workers draw
    different augmentations yet runs stay reproducible under a fixed seed.
    """

    def __init__(
        self,
        pipeline: A.Compose | None,
        image_size: tuple[int, int],
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        self.pipeline = pipeline
        self.image_size = image_size
        self.mean = np.asarray(mean, np.float32) * 255.0
        self.inv_std = 1.0 / (np.asarray(std, np.float32) * 255.0)
        self._pid = os.getpid()

    def reseed(self, seed: int | None) -> None:
        if self.pipeline is not None:
            self.pipeline.set_random_seed(seed)
        self._pid = os.getpid()

    def __call__(
        self, image: np.ndarray, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        if os.getpid() != self._pid:
            self.reseed(random.getrandbits(63))
        image = resize_image(image, self.image_size)
        if mask is not None:
            mask = resize_mask(mask, self.image_size)
        if self.pipeline is not None:
            if mask is None:
                image = self.pipeline(image=image)["image"]
            else:
                out = self.pipeline(image=image, mask=mask)
                image, mask = out["image"], out["mask"]
        image = (image.astype(np.float32) - self.mean) * self.inv_std
        return image, (mask.astype(np.int64) if mask is not None else None)


def augment_settings(augment_cfg: Any) -> Any:
    """The ``augment`` config completed from its schema (``AugmentConfig`` holds every
    default), so a partial mapping (a test, a benchmark) reads like a composed group and
    no default is repeated here."""
    return OmegaConf.merge(OmegaConf.structured(AugmentConfig), augment_cfg)


def build_transform(
    augment_cfg: Any, image_size: Sequence[int], train: bool, ignore_index: int = 255
) -> Transform:
    """The training pipeline (``train=True``) or resize + normalise only (``False``)."""
    if len(image_size) != 2:
        raise ConfigError(f"image_size={list(image_size)}; expected [height, width]")
    h, w = int(image_size[0]), int(image_size[1])
    a = augment_settings(augment_cfg)
    mean, std = list(a.mean), list(a.std)
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise ConfigError(f"augment.mean={mean} / augment.std={std}: need 3 values, std > 0")
    if not train:
        return SegTransform(None, (h, w), mean, std)
    ops = _geometric_ops(a, h, w, ignore_index) + _photometric_ops(a)
    return SegTransform(A.Compose(ops) if ops else None, (h, w), mean, std)


def _geometric_ops(a: Any, h: int, w: int, ignore_index: int) -> list[Any]:
    """Flip, zoom (then pad/crop back to ``h x w``) and rotation; every pixel they invent
    in the mask is ``ignore_index``."""
    ops: list[Any] = []
    if a.hflip > 0:
        ops.append(A.HorizontalFlip(p=float(a.hflip)))
    smin, smax = float(a.scale_min), float(a.scale_max)
    if not 0 < smin <= smax:
        raise ConfigError(f"augment.scale_min={smin}, scale_max={smax}: need 0 < min <= max")
    if (smin, smax) != (1.0, 1.0):
        ops += [
            A.RandomScale(
                scale_limit=(smin - 1.0, smax - 1.0),
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=cv2.INTER_NEAREST,
                p=1.0,
            ),
            A.PadIfNeeded(
                min_height=h,
                min_width=w,
                position="random",
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fill_mask=ignore_index,
            ),
            A.RandomCrop(height=h, width=w),
        ]
    rot = float(a.rotate_limit)
    if rot > 0:
        ops.append(
            A.Rotate(
                limit=(-rot, rot),
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fill_mask=ignore_index,
                mask_interpolation=cv2.INTER_NEAREST,
                p=1.0,
            )
        )
    return ops


def _photometric_ops(a: Any) -> list[Any]:
    """Colour, blur and noise changes: the image only, the mask untouched."""
    ops: list[Any] = []
    bc = float(a.brightness_contrast)
    if bc > 0:
        ops.append(A.RandomBrightnessContrast(brightness_limit=bc, contrast_limit=bc, p=0.8))
    hs = float(a.hue_saturation)
    if hs > 0:
        ops.append(
            A.HueSaturationValue(
                hue_shift_limit=50 * hs, sat_shift_limit=100 * hs, val_shift_limit=0, p=0.5
            )
        )
    if a.blur > 0:
        ops.append(A.GaussianBlur(blur_limit=(3, 5), sigma_limit=(0.3, 1.2), p=float(a.blur)))
    if a.noise > 0:
        ops.append(A.GaussNoise(std_range=(0.01, 0.05), p=float(a.noise)))
    return ops
