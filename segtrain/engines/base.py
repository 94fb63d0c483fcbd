"""The engine contract and lazy loading by ``model.framework``.

An engine is the only place a deep-learning framework is imported. Tasks (train,
evaluate, predict) talk to engines through this protocol, and engines are imported by
name only when chosen, so TensorFlow and PyTorch never meet in one process by accident
(importing TensorFlow before triton segfaults).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from omegaconf import DictConfig

from segtrain.errors import ConfigError
from segtrain.runtime.env import RunContext

#: model.framework -> module implementing :class:`Engine` as ``ENGINE``
ENGINE_MODULES: dict[str, str] = {
    "torch": "segtrain.engines.lightning_engine",
    "keras": "segtrain.engines.keras_engine",
}


@dataclass
class RunResult:
    """What a training run hands back to the task (and through it to sweepers)."""

    metrics: dict[str, float]
    model_dir: Path
    epochs_completed: int
    resumed_from: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoadedModel:
    """A trained model ready for inference, with the config it was trained with."""

    framework: str
    config: DictConfig  # the full training config saved beside the weights
    handle: Any  # engine-specific model object


class Engine(Protocol):
    def fit(self, cfg: DictConfig, ctx: RunContext) -> RunResult:
        """Train (resuming from ``ctx.checkpoint_dir`` when allowed) and export."""
        ...

    def load(self, artifact: Path, config: DictConfig, cfg: DictConfig) -> LoadedModel:
        """Load weights from ``artifact`` (final model or training checkpoint)."""
        ...

    def confusion_matrix(self, model: LoadedModel, cfg: DictConfig, split: str) -> np.ndarray:
        """Confusion matrix of ``model`` over a whole dataset split (``cfg.dataset``)."""
        ...

    def predict_batches(
        self, model: LoadedModel, images: list[np.ndarray], cfg: DictConfig
    ) -> Iterator[np.ndarray]:
        """Class-index maps (H, W) for RGB uint8 images, each at its own input size."""
        ...


def load_engine(framework: str) -> Engine:
    """Import the engine for ``framework`` (``torch`` or ``keras``) lazily."""
    try:
        module_name = ENGINE_MODULES[framework]
    except KeyError:
        raise ConfigError(
            f"model.framework={framework!r} is not known; expected one of {sorted(ENGINE_MODULES)}"
        ) from None
    module = importlib.import_module(module_name)
    return module.ENGINE
