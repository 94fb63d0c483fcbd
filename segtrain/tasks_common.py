"""Helpers shared by the task modules (train, evaluate, predict)."""

from __future__ import annotations

import logging
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("segtrain")


def resolve_config(cfg: DictConfig) -> DictConfig:
    """A fully resolved, plain copy of the composed config.

    Resolving inside the Hydra app fixes ``${hydra:...}`` interpolations (output dir)
    before the config is saved beside checkpoints or shipped to another process.
    """
    container: Any = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    resolved = OmegaConf.create(container)
    OmegaConf.set_struct(resolved, False)
    return resolved


def dataset_overridden() -> bool:
    """True when the command line selected or changed the dataset (``dataset=``/``dataset.*``)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        overrides = HydraConfig.get().overrides.task
    except Exception:
        return True
    return any(o.lstrip("+~").startswith("dataset") for o in overrides)
