"""``segtrain evaluate checkpoint=... [compare=...]``: per-class IoU table, ``metrics.json``,
the confusion-matrix heatmap and IoU bars, and a side-by-side table with ``compare=``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from segtrain.engines.base import load_engine
from segtrain.eval_outputs import METRICS_JSON, compare_with, evaluation_record, write_plots
from segtrain.metrics import format_iou_table, scores_from_confusion
from segtrain.runtime.artifacts import resolve_artifact
from segtrain.runtime.checkpoints import atomic_write_text
from segtrain.tasks_common import split_confusion, task_config

log = logging.getLogger("segtrain.evaluate")


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
    report = evaluation_record(
        str(artifact.weights), str(resolved.dataset.name), str(resolved.split), confusion, names
    )
    out_dir = Path(resolved.paths.output_dir)
    out = atomic_write_text(out_dir / METRICS_JSON, json.dumps(report, indent=2))
    print(f"Metrics written to {out}", flush=True)
    if resolved.plots:
        written = write_plots(out_dir, report, artifact.classes, bool(resolved.confusion_log))
        print(f"Plots written to {', '.join(str(p) for p in written)}", flush=True)
    if resolved.compare:
        compare_with(str(resolved.compare), engine, resolved, report, artifact.framework)
    return report
