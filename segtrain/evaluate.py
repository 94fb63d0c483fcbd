"""``segtrain evaluate checkpoint=...``: per-class IoU table and ``metrics.json``."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from segtrain.engines.base import load_engine
from segtrain.metrics import format_iou_table, scores_from_confusion
from segtrain.runtime.artifacts import ModelArtifact, resolve_artifact
from segtrain.runtime.checkpoints import atomic_write_text
from segtrain.tasks_common import dataset_overridden, resolve_config

log = logging.getLogger("segtrain.evaluate")


def task_config(cfg: DictConfig, artifact: ModelArtifact) -> DictConfig:
    """The command's config, with the checkpoint's own dataset unless one was chosen."""
    resolved = resolve_config(cfg)
    if not dataset_overridden():
        resolved.dataset = artifact.config.dataset
    return resolved


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def run_evaluate(cfg: DictConfig) -> dict[str, Any]:
    artifact = resolve_artifact(cfg.checkpoint)
    resolved = task_config(cfg, artifact)
    engine = load_engine(artifact.framework)
    model = engine.load(artifact.weights, artifact.config, resolved)
    confusion = engine.confusion_matrix(model, resolved, str(resolved.split))
    scores = scores_from_confusion(confusion)
    names = artifact.classes.names
    print(
        f"Evaluation of {artifact.weights} on {resolved.dataset.name} / {resolved.split}\n"
        + format_iou_table(scores, names),
        flush=True,
    )
    report = {
        "checkpoint": str(artifact.weights),
        "dataset": str(resolved.dataset.name),
        "split": str(resolved.split),
        "pixels": int(confusion.sum()),
        "mIoU": _finite(scores.mIoU),
        "pixel_acc": _finite(scores.pixel_acc),
        "mean_acc": _finite(scores.mean_acc),
        "fwIoU": _finite(scores.fwIoU),
        "per_class_iou": {n: _finite(v) for n, v in zip(names, scores.iou, strict=True)},
        "per_class_acc": {n: _finite(v) for n, v in zip(names, scores.acc, strict=True)},
        "confusion_matrix": confusion.tolist(),
    }
    out = Path(resolved.paths.output_dir) / "metrics.json"
    atomic_write_text(out, json.dumps(report, indent=2))
    print(f"Metrics written to {out}", flush=True)
    return report
