"""What every task does around an engine, whichever engine it is.

The tasks (train, evaluate, predict) are thin; an engine supplies only fit, load,
the confusion matrix of a split and predictions (:class:`segtrain.engines.base.Engine`).
Everything engine-agnostic lives here once: the config a task runs with (the
checkpoint's own config refined by the command line), the "model predicts N classes"
check, the confusion matrix of a split and the per-class table printed after a fit.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from segtrain.data.source import open_split
from segtrain.engines.base import Engine, LoadedModel, RunResult
from segtrain.errors import ConfigError
from segtrain.metrics import format_iou_table, scores_from_confusion
from segtrain.runtime.artifacts import ModelArtifact

log = logging.getLogger("segtrain")

DATASET = "dataset"


def resolve_config(cfg: DictConfig) -> DictConfig:
    """A fully resolved, plain copy of the composed config.

    Resolving inside the Hydra app fixes ``${hydra:...}`` interpolations (output dir)
    before the config is saved beside checkpoints or shipped to another process.
    """
    container: Any = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    resolved = OmegaConf.create(container)
    OmegaConf.set_struct(resolved, False)
    return resolved


def command_line_overrides() -> list[str] | None:
    """The overrides Hydra applied to this task's config; None outside a Hydra app."""
    from hydra.core.hydra_config import HydraConfig

    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:  # "HydraConfig was not set": composed by a caller, not the CLI
        return None


def _dataset_overrides(overrides: list[str]) -> tuple[bool, list[tuple[str, bool]]]:
    """(``dataset=<name>`` given, [(key below ``dataset.``, is a deletion), ...])."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    chosen, keys = False, []
    for override in OverridesParser.create().parse_overrides(overrides):
        key = override.key_or_group
        if key == DATASET:
            chosen = True
        elif key.startswith(f"{DATASET}."):
            keys.append((key.removeprefix(f"{DATASET}."), override.is_delete()))
    return chosen, keys


def task_config(cfg: DictConfig, artifact: ModelArtifact) -> DictConfig:
    """The config evaluate/predict run with: the checkpoint's dataset, refined.

    The dataset is the one the model was trained on (from the checkpoint's stored
    config); each ``dataset.<key>=`` on the command line changes that key of it and
    nothing else (``dataset.root=<dir>`` points the same dataset config at another
    copy). ``dataset=<name>`` chooses another dataset explicitly. Outside a Hydra app
    (a caller composed ``cfg`` itself) the composed dataset stands.
    """
    resolved = resolve_config(cfg)
    overrides = command_line_overrides()
    if overrides is None:
        return resolved
    chosen, keys = _dataset_overrides(overrides)
    if chosen:
        return resolved
    dataset = OmegaConf.create(OmegaConf.to_container(artifact.config[DATASET], resolve=True))
    OmegaConf.set_struct(dataset, False)
    for key, delete in keys:
        parent_key, _, leaf = key.rpartition(".")
        if delete:
            parent = OmegaConf.select(dataset, parent_key) if parent_key else dataset
            if parent is not None and leaf in parent:
                parent.pop(leaf)
        else:
            value = OmegaConf.select(resolved[DATASET], key)
            OmegaConf.update(dataset, key, value, merge=False, force_add=True)
    resolved[DATASET] = dataset
    return resolved


def check_model_classes(model: LoadedModel, class_names: list[str], dataset_name: str) -> None:
    """Refuse a dataset whose class count differs from what the model predicts."""
    if model.num_outputs != len(class_names):
        raise ConfigError(
            f"the model predicts {model.num_outputs} classes but dataset {dataset_name} has "
            f"{len(class_names)}; evaluate on the dataset the model was trained for"
        )


def split_confusion(engine: Engine, model: LoadedModel, cfg: DictConfig, split: str) -> np.ndarray:
    """The confusion matrix of ``model`` over a whole split of ``cfg.dataset``."""
    source = open_split(cfg.dataset, split)
    check_model_classes(model, list(source.class_map.names), str(cfg.dataset.name))
    return engine.confusion_matrix(model, source, cfg)


def log_validation_table(result: RunResult) -> None:
    """The per-class IoU table of a fit's last validation (both engines alike)."""
    if result.confusion is None:
        return
    scores = scores_from_confusion(result.confusion)
    log.info("Validation per class:\n%s", format_iou_table(scores, result.class_names))
