"""Fixtures for data tests: tiny synthetic datasets and dataset configs built from the schema."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf

from segtrain.config import DatasetConfig


def make_dataset_cfg(root: Path | str, **overrides) -> DictConfig:
    """A validated dataset config (the schema's defaults + overrides, dotted keys allowed)."""
    cfg = OmegaConf.structured(DatasetConfig(root=str(root)))
    for key, value in overrides.items():
        OmegaConf.update(cfg, key.replace("__", "."), value, merge=False)
    return cfg


@pytest.fixture
def dataset_cfg() -> Callable[..., DictConfig]:
    return make_dataset_cfg


@pytest.fixture
def tiny_synth(tmp_path: Path) -> DictConfig:
    """3 sequences x 4 frames at 64x96: generated on first open_split."""
    return make_dataset_cfg(
        tmp_path / "synth",
        image_size=[64, 96],
        synth__num_sequences=3,
        synth__frames_per_sequence=4,
        synth__height=64,
        synth__width=96,
        split__val_fraction=0.34,
    )
