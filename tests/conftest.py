"""Shared fixtures: repo paths, the real sample data (skip when absent), composed configs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# TensorFlow imported before triton segfaults (DESIGN.md section 5), and the Keras unit
# tests import TensorFlow at collection: load torchvision (which loads triton) first, so
# any subset of the suite collects in a safe order (absent in a TensorFlow-only install).
with contextlib.suppress(ImportError):
    import torchvision  # noqa: F401
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
CONFIG_DIR = REPO_ROOT / "configs"

# tests never touch a real AWS account, and never import TF in torch test processes
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repo; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real sample data not found at {SHARED_DATA} (../shared/data)")
    return SHARED_DATA


@pytest.fixture
def compose_config() -> Iterator[Callable[..., DictConfig]]:
    """Compose ``configs/<name>.yaml`` with overrides, as the CLI would (no Hydra run)."""
    from segtrain.config import register_configs

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):

        def _compose(name: str = "train", overrides: list[str] | None = None) -> DictConfig:
            return compose(config_name=name, overrides=overrides or [], return_hydra_config=False)

        yield _compose
    GlobalHydra.instance().clear()
