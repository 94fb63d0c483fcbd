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

from segtrain.data.source import SampleSource
from segtrain.errors import ConfigError
from segtrain.runtime import noise
from segtrain.runtime.artifacts import ClassInfo, ModelArtifact
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
    #: the last validation's confusion matrix, summed over ranks (None: no validation);
    #: the task prints the per-class table from it, whichever engine trained
    confusion: np.ndarray | None = None
    class_names: list[str] = field(default_factory=list)  # the rows of ``confusion``
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoadedModel:
    """A trained model ready for inference, with the config it was trained with."""

    framework: str
    config: DictConfig  # the full training config saved beside the weights
    classes: ClassInfo  # the classes.json saved beside the weights
    num_outputs: int  # classes the network predicts (checked against a dataset's)
    handle: Any  # engine-specific model object

    @classmethod
    def of(cls, artifact: ModelArtifact, handle: Any, num_outputs: int) -> LoadedModel:
        """``handle`` loaded from ``artifact``, predicting ``num_outputs`` classes."""
        return cls(artifact.framework, artifact.config, artifact.classes, num_outputs, handle)


class Engine(Protocol):
    """What an engine supplies; everything around it (classes, checks, tables, the
    results file) is the tasks' (:mod:`segtrain.tasks_common`)."""

    framework: str

    def fit(self, cfg: DictConfig, ctx: RunContext) -> RunResult:
        """Train (resuming from ``ctx.checkpoint_dir`` when allowed) and export the final
        model to ``ctx.model_dir``."""
        ...

    def load(self, artifact: ModelArtifact, cfg: DictConfig) -> LoadedModel:
        """Load ``artifact.weights`` (final model or training checkpoint)."""
        ...

    def confusion_matrix(
        self, model: LoadedModel, source: SampleSource, cfg: DictConfig
    ) -> np.ndarray:
        """The confusion matrix of ``model``'s predictions over every sample of
        ``source`` (the engine's own bincount, batch by batch); never a score."""
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
    with noise.native_start_up_filtered():  # TensorFlow's C++ start-up lines (verbose: kept)
        module = importlib.import_module(module_name)
    return module.ENGINE
