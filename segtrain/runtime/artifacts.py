"""The on-disk layout of a trained model, shared by both engines and all tasks.

A model directory holds the weights (``model.pt`` for torch, ``model.keras`` for Keras),
``config.yaml`` (the resolved training config: enough to rebuild the model and its
preprocessing) and ``classes.json`` (names, colours, ignore index). Training checkpoint
directories carry the same two metadata files, so ``checkpoint=`` may point at a model
directory, a run's output directory, a checkpoint directory or a single weights file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from segtrain.errors import CheckpointError, ConfigError
from segtrain.runtime.checkpoints import atomic_write_text, latest_checkpoint

CONFIG_FILE = "config.yaml"
CLASSES_FILE = "classes.json"
WEIGHT_FILES = {"torch": "model.pt", "keras": "model.keras"}
CHECKPOINT_SUFFIXES = (".ckpt", ".weights.h5", ".pt", ".keras")


@dataclass(frozen=True)
class ClassInfo:
    names: list[str]
    colors: list[tuple[int, int, int]]
    ignore_index: int

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def to_json(self) -> str:
        return json.dumps(
            {
                "names": self.names,
                "colors": [list(c) for c in self.colors],
                "ignore_index": self.ignore_index,
            },
            indent=2,
        )

    @classmethod
    def from_class_map(cls, class_map: Any) -> ClassInfo:
        return cls(
            names=list(class_map.names),
            colors=[tuple(int(v) for v in c) for c in class_map.colors],
            ignore_index=int(class_map.ignore_index),
        )

    @classmethod
    def read(cls, path: Path) -> ClassInfo:
        try:
            data = json.loads(path.read_text())
            return cls(
                names=list(data["names"]),
                colors=[tuple(int(v) for v in c) for c in data["colors"]],
                ignore_index=int(data["ignore_index"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise CheckpointError(f"{path} is not a valid classes file: {err}") from None


@dataclass(frozen=True)
class ModelArtifact:
    framework: str
    weights: Path
    config: DictConfig
    classes: ClassInfo


def model_num_classes(cfg: DictConfig, classes: ClassInfo) -> int:
    """The classes a model trained on ``cfg.dataset`` predicts: the dataset's.

    ``model.num_classes`` is only a check (null takes the dataset's count); a mismatch
    is refused before anything is built.
    """
    configured = cfg.model.num_classes
    if configured is not None and int(configured) != classes.num_classes:
        raise ConfigError(
            f"model.num_classes={configured} but dataset {cfg.dataset.name} has "
            f"{classes.num_classes} classes; leave model.num_classes=null to take the dataset's"
        )
    return classes.num_classes


def write_metadata(directory: Path, cfg: DictConfig | Mapping, classes: ClassInfo) -> None:
    """Write ``config.yaml`` and ``classes.json`` atomically into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    conf = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(dict(cfg))
    atomic_write_text(directory / CONFIG_FILE, OmegaConf.to_yaml(conf, resolve=True))
    atomic_write_text(directory / CLASSES_FILE, classes.to_json())


def _metadata_dir(weights: Path) -> Path:
    for d in (weights.parent, weights.parent.parent):
        if (d / CONFIG_FILE).is_file() and (d / CLASSES_FILE).is_file():
            return d
    raise CheckpointError(
        f"no {CONFIG_FILE} and {CLASSES_FILE} beside {weights}: segtrain needs them to "
        "rebuild the model (point checkpoint= at the model directory a training run wrote)"
    )


def resolve_artifact(path: str | Path) -> ModelArtifact:
    """Find weights + metadata from any of the accepted ``checkpoint=`` forms."""
    p = Path(path).expanduser()
    if not p.exists():
        raise CheckpointError(f"checkpoint={p} does not exist")
    weights = _find_weights(p) if p.is_dir() else p
    meta = _metadata_dir(weights)
    config = OmegaConf.load(meta / CONFIG_FILE)
    framework = OmegaConf.select(config, "model.framework")
    if framework is None:
        raise CheckpointError(
            f"{meta / CONFIG_FILE} names no model.framework: it is not a config segtrain "
            "wrote (every training run saves its full config there)"
        )
    classes = ClassInfo.read(meta / CLASSES_FILE)
    return ModelArtifact(framework=str(framework), weights=weights, config=config, classes=classes)


def _find_weights(directory: Path) -> Path:
    for name in WEIGHT_FILES.values():
        if (directory / name).is_file():
            return directory / name
    for sub in ("model", "checkpoints"):
        if (directory / sub).is_dir():
            try:
                return _find_weights(directory / sub)
            except CheckpointError:
                pass
    found = latest_checkpoint(directory)
    if found is None:
        for suffix in CHECKPOINT_SUFFIXES[1:]:
            found = latest_checkpoint(directory, suffix=suffix)
            if found:
                break
    if found is None:
        raise CheckpointError(
            f"no model weights in {directory}: expected one of "
            f"{', '.join(WEIGHT_FILES.values())}, a model/ or checkpoints/ directory, or "
            f"a checkpoint file ({', '.join(CHECKPOINT_SUFFIXES)})"
        )
    return found
