"""Augmentation: output contract, ignore padding, flips, determinism, no torch import."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from omegaconf import OmegaConf

from segtrain.config import AugmentConfig
from segtrain.data.transforms import build_transform
from segtrain.errors import ConfigError


def aug(**kw):
    cfg = OmegaConf.structured(AugmentConfig(hflip=0.0))
    for k, v in kw.items():
        cfg[k] = v
    return cfg


def sample(h=48, w=64):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.tile(np.arange(w, dtype=np.uint8) % 5, (h, 1))
    return img, mask


def test_eval_transform_only_resizes_and_normalises():
    img, mask = sample()
    t = build_transform(aug(mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25]), [24, 32], train=False)
    x, y = t(img, mask)
    assert x.dtype == np.float32 and x.shape == (24, 32, 3)
    assert y.dtype == np.int64 and y.shape == (24, 32)
    x_full, _ = build_transform(aug(mean=[0.5] * 3, std=[0.25] * 3), [48, 64], train=False)(
        img, mask
    )
    assert np.allclose(x_full, (img / 255.0 - 0.5) / 0.25, atol=1e-5)


def test_unlabelled_images_pass_through():
    img, _ = sample()
    x, y = build_transform(aug(hflip=1.0), [48, 64], train=True)(img, None)
    assert y is None and x.shape == (48, 64, 3)


def test_hflip_flips_image_and_mask_together():
    img, mask = sample()
    t = build_transform(aug(hflip=1.0, mean=[0, 0, 0], std=[1 / 255] * 3), [48, 64], train=True)
    x, y = t(img, mask)
    assert np.array_equal(y, mask[:, ::-1]) and np.allclose(x, img[:, ::-1])


def test_downscale_pads_the_mask_with_ignore_index():
    img, mask = sample()
    t = build_transform(aug(scale_min=0.5, scale_max=0.5), [48, 64], train=True, ignore_index=250)
    _, y = t(img, mask)
    assert y.shape == (48, 64)
    assert (y == 250).mean() == pytest.approx(0.75, abs=0.02)  # 3/4 of the area is padding
    assert set(np.unique(y)) <= {0, 1, 2, 3, 4, 250}


def test_rotation_fills_corners_with_ignore_and_keeps_labels_exact():
    img, mask = sample()
    _, y = build_transform(aug(rotate_limit=30), [48, 64], train=True)(img, mask)
    assert set(np.unique(y)) <= {0, 1, 2, 3, 4, 255}


def test_full_pipeline_contract_and_reseed_reproducibility():
    img, mask = sample()
    cfg = aug(
        hflip=0.5,
        scale_min=0.75,
        scale_max=1.25,
        rotate_limit=5,
        brightness_contrast=0.3,
        hue_saturation=0.2,
        blur=0.5,
        noise=0.5,
    )
    t = build_transform(cfg, [48, 64], train=True)
    t.reseed(7)
    a = [t(img, mask) for _ in range(3)]
    t2 = pickle.loads(pickle.dumps(t))
    t2.reseed(7)
    b = [t2(img, mask) for _ in range(3)]
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb)
        assert xa.shape == (48, 64, 3) and ya.shape == (48, 64) and ya.dtype == np.int64
    assert not np.array_equal(a[0][0], a[1][0])  # random per call


def test_bad_settings():
    with pytest.raises(ConfigError, match="scale_min"):
        build_transform(aug(scale_min=2.0, scale_max=1.0), [8, 8], train=True)
    with pytest.raises(ConfigError, match="image_size"):
        build_transform(aug(), [8], train=False)
