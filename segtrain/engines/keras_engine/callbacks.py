"""Keras callbacks: the metric line, best and last weights (the backup: ``backup.py``).

Every file here is written to a temporary name in its final directory and renamed
over the real one (``os.replace`` is atomic), so a run killed at any instant leaves
the previous complete file or the new one, never half of one. Temporary names start
with ``.tmp-`` like :mod:`segtrain.runtime.checkpoints`' (which cleans them up).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np

from segtrain.metrics import scores_from_confusion
from segtrain.runtime.checkpoints import atomic_write, atomic_write_text
from segtrain.runtime.epoch_table import class_iou, write_epoch_row
from segtrain.runtime.metric_log import (
    LR,
    THROUGHPUT,
    TRAIN_LOSS,
    VAL_METRICS,
    VAL_MIOU,
    VAL_PREFIX,
    log_metrics,
)

log = logging.getLogger(__name__)

BEST_WEIGHTS = "best.weights.h5"
LAST_WEIGHTS = "last.weights.h5"
BEST_STATE = "best.json"
BACKUP_WEIGHTS = "latest.weights.h5"
BACKUP_METADATA = "training_metadata.json"
WEIGHTS_SUFFIX = ".weights.h5"

#: Keras log key -> metric-line name
LINE_KEYS = {"loss": TRAIN_LOSS, **{name: name for name in VAL_METRICS}}


def atomic_save_weights(model: keras.Model, path: Path) -> Path:
    """``model.save_weights(path)`` through a temporary file and an atomic rename.

    Keras insists on names ending in ``.weights.h5``, so the temporary file keeps it.
    """
    return atomic_write(path, lambda tmp: model.save_weights(str(tmp)), suffix=WEIGHTS_SUFFIX)


def backup_epoch(backup_dir: Path) -> int | None:
    """Epochs completed according to a BackupAndRestore directory (None: no backup)."""
    weights = Path(backup_dir) / BACKUP_WEIGHTS
    meta = Path(backup_dir) / BACKUP_METADATA
    if not weights.is_file():
        return None
    try:
        return int(json.loads(meta.read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


class BestAndLastWeights(keras.callbacks.Callback):
    """``last.weights.h5`` every epoch; ``best.weights.h5`` when ``monitor`` improves.

    The best score so far lives in ``best.json`` beside the weights, so a resumed run
    keeps comparing against the score of the run it continues.
    """

    def __init__(self, directory: Path, monitor: str = VAL_MIOU, mode: str = "max"):
        super().__init__()
        self.directory = Path(directory)
        self.monitor = monitor
        self.sign = 1.0 if mode == "max" else -1.0
        self.best: float | None = None
        state = self.directory / BEST_STATE
        if state.is_file():
            try:
                self.best = _finite(json.loads(state.read_text()).get("value"))
            except (OSError, ValueError, AttributeError):
                self.best = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        value = _finite(logs.get(self.monitor))
        if value is not None and (self.best is None or self.sign * (value - self.best) > 0):
            self.best = value
            atomic_save_weights(self.model, self.directory / BEST_WEIGHTS)
            atomic_write_text(
                self.directory / BEST_STATE,
                json.dumps({"monitor": self.monitor, "value": value, "epoch": epoch + 1}),
            )
        atomic_save_weights(self.model, self.directory / LAST_WEIGHTS)


class MetricLine(keras.callbacks.Callback):
    """THE metric line (:mod:`segtrain.runtime.metric_log`) once per epoch.

    ``epoch`` is the number of epochs completed (1 after the first), as in the torch
    engine. ``throughput`` is training images per second of training time (validation
    excluded). The confusion matrix of the last validation is kept for per-class IoU.
    """

    def __init__(
        self,
        images_per_epoch: int,
        replicas: int = 1,
        print_lines: bool = True,
        confusion_of: Callable[[], np.ndarray | None] | None = None,
    ):
        super().__init__()
        self.images_per_epoch = images_per_epoch * replicas
        self.print_lines = print_lines
        self.confusion_of = confusion_of
        self.history: list[dict[str, float]] = []
        self.last_val_confusion: np.ndarray | None = None
        self._start = 0.0
        self._train_end = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()
        self._train_end = 0.0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._train_end = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        end = self._train_end or time.perf_counter()
        metrics: dict[str, float] = {}
        for key, name in LINE_KEYS.items():
            if key in logs:
                metrics[name] = float(logs[key])
        optimizer = self.model.optimizer
        if optimizer is not None:
            metrics[LR] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        metrics[THROUGHPUT] = self.images_per_epoch / max(end - self._start, 1e-9)
        if VAL_MIOU in logs and self.confusion_of is not None:
            self.last_val_confusion = self.confusion_of()
        self.history.append({"epoch": epoch + 1, **metrics})
        if self.print_lines:
            log_metrics(metrics, epoch=epoch + 1)


class EpochRows(keras.callbacks.Callback):
    """The epoch's row of the run's ``metrics.csv`` (:mod:`segtrain.runtime.epoch_table`),
    chief only, after the weights, the backup and :class:`MetricLine` (whose numbers it
    records, plus per-class IoU from the epoch logs or the validation's confusion)."""

    def __init__(self, metric_line: MetricLine, run_dir: Path, class_names: list[str]):
        super().__init__()
        self.metric_line = metric_line
        self.run_dir = Path(run_dir)
        self.class_names = list(class_names)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        row = {k: v for k, v in self.metric_line.history[-1].items() if k != "epoch"}
        per_class = class_iou(logs)
        confusion = self.metric_line.last_val_confusion
        if not per_class and VAL_MIOU in logs and confusion is not None:
            scores = scores_from_confusion(confusion).as_dict(VAL_PREFIX, self.class_names)
            per_class = class_iou(scores)
        write_epoch_row(self.run_dir, epoch + 1, {**row, **per_class})


def logger_callbacks(cfg: Any, log_dir: Path) -> list[keras.callbacks.Callback]:
    """``logger.csv`` and ``logger.tensorboard`` (for the process that writes logs)."""
    out: list[keras.callbacks.Callback] = []
    if cfg.logger.get("csv"):
        csv_dir = Path(log_dir) / "csv"
        csv_dir.mkdir(parents=True, exist_ok=True)
        out.append(keras.callbacks.CSVLogger(str(csv_dir / "metrics.csv"), append=True))
    if cfg.logger.get("tensorboard"):
        out.append(
            keras.callbacks.TensorBoard(
                str(Path(log_dir) / "tensorboard"), write_graph=False, profile_batch=0
            )
        )
    return out


def final_metrics(
    history: list[dict[str, Any]],
    confusion: np.ndarray | None,
    names: list[str],
    revalidate: Callable[[], tuple[dict[str, float], np.ndarray | None]] | None,
) -> tuple[dict[str, float], np.ndarray | None]:
    """A run's metrics (its last validated epoch plus per-class IoU from ``confusion``)
    and the confusion matrix they come from (the task prints its per-class table).

    When no epoch was validated in this process (a resumed run that had nothing left to
    train), ``revalidate()`` scores the restored model and returns (metrics, confusion);
    without a validation split (``revalidate=None``) there are no metrics.
    """
    validated = [h for h in history if VAL_MIOU in h]
    if validated:
        metrics = {k: float(v) for k, v in validated[-1].items() if k != "epoch"}
    elif revalidate is not None:
        metrics, confusion = revalidate()
    else:
        return {}, None
    if confusion is not None:
        scores = scores_from_confusion(confusion)
        for key, value in scores.as_dict(VAL_PREFIX, names).items():
            metrics.setdefault(key, float(value))
    return metrics, confusion
