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
from segtrain.runtime.artifacts import resolve_artifact
from segtrain.runtime.checkpoints import atomic_write_text
from segtrain.tasks_common import split_confusion, task_config

log = logging.getLogger("segtrain.evaluate")


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def run_evaluate(cfg: DictConfig) -> dict[str, Any]:
    artifact = resolve_artifact(cfg.checkpoint)
    resolved = task_config(cfg, artifact)
    engine = load_engine(artifact.framework)
    model = engine.load(artifact, resolved)
    confusion = split_confusion(engine, model, resolved, str(resolved.split))
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
        **{name: _finite(value) for name, value in scores.summary().items()},
        "per_class_iou": {n: _finite(v) for n, v in zip(names, scores.iou, strict=True)},
        "per_class_acc": {n: _finite(v) for n, v in zip(names, scores.acc, strict=True)},
        "confusion_matrix": confusion.tolist(),
    }
    out = Path(resolved.paths.output_dir) / "metrics.json"
    atomic_write_text(out, json.dumps(report, indent=2))
    print(f"Metrics written to {out}", flush=True)
    return report
