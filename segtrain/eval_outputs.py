"""What ``segtrain evaluate`` writes beside the per-class table, and ``compare=``.

* :func:`evaluation_record`: the ``metrics.json`` record of one evaluation (also what
  the run report shows for a run's best checkpoint);
* :func:`write_plots`: the row-normalised confusion-matrix heatmap and the per-class IoU
  bars as PNGs beside it;
* :func:`other_record` / :func:`write_comparison`: ``compare=<other checkpoint | its
  metrics.json>``: both models on the same split, side by side, with the difference.

Every score comes from :mod:`segtrain.metrics` (here only subtracted for the difference).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from segtrain.engines.base import Engine
from segtrain.errors import ConfigError
from segtrain.metrics import scores_from_confusion
from segtrain.plots import confusion_png, iou_bars_png, iou_comparison_png, save_png_bytes
from segtrain.runtime.artifacts import ClassInfo, resolve_artifact
from segtrain.runtime.checkpoints import atomic_write_text
from segtrain.runtime.metric_log import MIOU, SCORES
from segtrain.tasks_common import split_confusion

log = logging.getLogger("segtrain.evaluate")

METRICS_JSON = "metrics.json"
CONFUSION_PNG = "confusion_matrix.png"
IOU_PNG = "per_class_iou.png"
COMPARISON_JSON = "comparison.json"
COMPARISON_PNG = "iou_comparison.png"
LABELS = ("checkpoint", "compare")


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def evaluation_record(
    checkpoint: str, dataset: str, split: str, confusion: np.ndarray, names: list[str]
) -> dict[str, Any]:
    """The ``metrics.json`` of one evaluation: summary scores, per class, the matrix."""
    scores = scores_from_confusion(confusion)
    return {
        "checkpoint": checkpoint,
        "dataset": dataset,
        "split": split,
        "pixels": int(np.asarray(confusion).sum()),
        **{name: _finite(value) for name, value in scores.summary().items()},
        "per_class_iou": {n: _finite(v) for n, v in zip(names, scores.iou, strict=True)},
        "per_class_acc": {n: _finite(v) for n, v in zip(names, scores.acc, strict=True)},
        "confusion_matrix": np.asarray(confusion).tolist(),
    }


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def write_plots(
    out_dir: Path, record: dict[str, Any], classes: ClassInfo, log_color: bool = False
) -> list[Path]:
    """The confusion-matrix heatmap and per-class IoU bars of ``record`` as PNGs."""
    names = list(record["per_class_iou"])
    where = f"{record['dataset']} / {record['split']}"
    heatmap = confusion_png(
        np.asarray(record["confusion_matrix"]),
        names,
        log_color=log_color,
        title=f"Confusion matrix, rows normalised ({where})",
    )
    bars = iou_bars_png(
        [_nan(v) for v in record["per_class_iou"].values()],
        names,
        classes.colors,
        title=f"Per-class IoU ({where}, mIoU {_pct(record.get(MIOU))})",
    )
    return [
        save_png_bytes(Path(out_dir) / CONFUSION_PNG, heatmap),
        save_png_bytes(Path(out_dir) / IOU_PNG, bars),
    ]


def other_record(
    compare: str, engine: Engine, cfg: DictConfig, names: list[str], framework: str
) -> dict[str, Any]:
    """The record of ``compare=``: an earlier ``metrics.json``, or that checkpoint
    evaluated now on the same dataset and split as the first one (same engine only:
    TensorFlow and torch never share a process)."""
    path = Path(compare).expanduser()
    if path.suffix == ".json":
        try:
            record = json.loads(path.read_text())
            if not isinstance(record.get("per_class_iou"), dict):
                raise KeyError("per_class_iou")
        except (OSError, ValueError, KeyError, AttributeError) as err:
            raise ConfigError(
                f"compare={compare} is not a metrics.json evaluate wrote: {err}"
            ) from None
        return record
    artifact = resolve_artifact(path)
    if artifact.framework != framework:
        raise ConfigError(
            f"compare={compare} is a {artifact.framework} model and checkpoint= a {framework} "
            "one; they cannot be loaded in one process: evaluate it on its own and pass "
            f"compare=<its {METRICS_JSON}>"
        )
    if artifact.classes.names != names:
        raise ConfigError(f"compare={compare} predicts other classes than checkpoint=")
    model = engine.load(artifact, cfg)
    confusion = split_confusion(engine, model, cfg, str(cfg.split))
    return evaluation_record(
        str(artifact.weights), str(cfg.dataset.name), str(cfg.split), confusion, names
    )


def comparison(mine: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Per class and per summary score: both values and ``checkpoint - compare``."""
    names = list(mine["per_class_iou"])
    if list(other["per_class_iou"]) != names:
        raise ConfigError(
            "compare= holds other classes: "
            f"{list(other['per_class_iou'])} vs {names}; compare models of one class list"
        )
    if (other.get("dataset"), other.get("split")) != (mine["dataset"], mine["split"]):
        log.warning(
            "compare= was evaluated on %s / %s, checkpoint= on %s / %s",
            other.get("dataset"),
            other.get("split"),
            mine["dataset"],
            mine["split"],
        )

    def entry(a: float | None, b: float | None) -> dict[str, float | None]:
        diff = None if a is None or b is None else a - b
        return {LABELS[0]: a, LABELS[1]: b, "difference": diff}

    return {
        LABELS[0]: mine["checkpoint"],
        LABELS[1]: other.get("checkpoint"),
        "dataset": mine["dataset"],
        "split": mine["split"],
        "summary": {s: entry(mine.get(s), other.get(s)) for s in SCORES},
        "per_class_iou": {
            n: entry(mine["per_class_iou"][n], other["per_class_iou"][n]) for n in names
        },
    }


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.2f}"


def format_comparison(result: dict[str, Any]) -> str:
    """The side-by-side table: class, checkpoint IoU, compare IoU, difference (points)."""
    rows = [*result["per_class_iou"].items()]
    width = max([len(n) for n, _ in rows] + [9])
    head = f"{'class':<{width}}  {LABELS[0]:>10}  {LABELS[1]:>10}  {'diff':>7}"
    lines = [head]
    for name, e in rows:
        lines.append(
            f"{name:<{width}}  {_pct(e[LABELS[0]]):>10}  {_pct(e[LABELS[1]]):>10}  "
            f"{_signed(e['difference']):>7}"
        )
    lines.append("-" * len(head))
    for name, e in result["summary"].items():
        lines.append(
            f"{name:<{width}}  {_pct(e[LABELS[0]]):>10}  {_pct(e[LABELS[1]]):>10}  "
            f"{_signed(e['difference']):>7}"
        )
    return "\n".join(lines)


def write_comparison(out_dir: Path, result: dict[str, Any]) -> list[Path]:
    """``comparison.json`` and the side-by-side IoU chart (with the difference below)."""
    names = list(result["per_class_iou"])
    values = result["per_class_iou"].values()
    chart = iou_comparison_png(
        [_nan(e[LABELS[0]]) for e in values],
        [_nan(e[LABELS[1]]) for e in result["per_class_iou"].values()],
        names,
        LABELS,
    )
    return [
        atomic_write_text(Path(out_dir) / COMPARISON_JSON, json.dumps(result, indent=2)),
        save_png_bytes(Path(out_dir) / COMPARISON_PNG, chart),
    ]


def compare_with(
    compare: str, engine: Engine, cfg: DictConfig, record: dict[str, Any], framework: str
) -> dict[str, Any]:
    """``evaluate ... compare=<other>``: print the side-by-side table, write its files."""
    other = other_record(compare, engine, cfg, list(record["per_class_iou"]), framework)
    result = comparison(record, other)
    print(f"Comparison with {other.get('checkpoint')}:\n{format_comparison(result)}", flush=True)
    written = write_comparison(Path(cfg.paths.output_dir), result)
    print(f"Comparison written to {', '.join(str(p) for p in written)}", flush=True)
    return result
