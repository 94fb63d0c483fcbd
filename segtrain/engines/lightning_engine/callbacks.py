"""Callbacks and plugins: metric lines each epoch, atomic checkpoint files."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from segtrain.runtime.checkpoints import atomic_write
from segtrain.runtime.metric_log import LR, THROUGHPUT, TRAIN_LOSS, VAL_METRICS, log_metrics

log = logging.getLogger(__name__)


class MetricLineCallback(L.Callback):
    """Prints THE metric line (``segtrain.runtime.metric_log``) once per epoch, rank 0.

    ``throughput`` is training images per second over all ranks, data loading included
    but the epoch-end validation excluded (Lightning validates before
    ``on_train_epoch_end``, so the clock pauses while it runs).
    """

    def __init__(self) -> None:
        self._start: float | None = None
        self._elapsed = 0.0
        self._in_epoch = False
        self._images = 0
        self.history: list[dict[str, float]] = []

    def _pause(self) -> None:
        if self._start is not None:
            self._elapsed += time.perf_counter() - self._start
            self._start = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._elapsed, self._images, self._in_epoch = 0.0, 0, True
        self._start = time.perf_counter()

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._pause()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._in_epoch and self._start is None:
            self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._images += int(batch[0].shape[0]) * trainer.world_size

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._pause()
        self._in_epoch = False
        elapsed = max(self._elapsed, 1e-9)
        metrics: dict[str, float] = {}
        train_loss = trainer.callback_metrics.get(f"{TRAIN_LOSS}_epoch")
        if train_loss is not None:
            metrics[TRAIN_LOSS] = float(train_loss)
        scores = getattr(pl_module, "last_val_scores", {}) or {}
        for key in VAL_METRICS:
            if key in scores:
                metrics[key] = scores[key]
        if trainer.optimizers:
            metrics[LR] = float(trainer.optimizers[0].param_groups[0]["lr"])
        metrics[THROUGHPUT] = self._images / elapsed
        self.history.append({"epoch": trainer.current_epoch + 1, **metrics})
        if trainer.is_global_zero:
            log_metrics(metrics, epoch=trainer.current_epoch + 1)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes to a temp file and renames it (a kill never leaves half a checkpoint);
    reads with ``weights_only=True`` (no arbitrary pickles executed on load)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None
    ) -> None:
        atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))

    def load_checkpoint(
        self, path: str | Path, map_location: Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return torch.load(path, map_location=map_location or "cpu", weights_only=True)
