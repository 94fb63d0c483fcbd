"""Callbacks and plugins: the run lifecycle (``runtime.lifecycle``) for Lightning.

Each epoch ends in this order: ``best`` (ModelCheckpoint, at validation end) ->
``last.ckpt`` (:class:`LastCheckpoint`, after every epoch; the one it replaces kept as
``previous.ckpt``) -> the epoch's metric line, so a line is printed only once its
checkpoint is safe and a resumed run never prints an epoch twice. :class:`RunLifecycle`
is what the engine calls around ``trainer.fit``: whose dir, finished or not, which
checkpoint resumes (falling back past unloadable ones), and SIGTERM / SIGINT.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Checkpoint
from omegaconf import DictConfig

from segtrain.engines.base import RunResult
from segtrain.engines.run_lifecycle import EngineRun
from segtrain.errors import CheckpointError
from segtrain.runtime import lifecycle
from segtrain.runtime.checkpoints import LAST_NAME, atomic_write, clean_partial
from segtrain.runtime.env import RunContext
from segtrain.runtime.epoch_table import class_iou, write_epoch_row
from segtrain.runtime.metric_log import (
    LR,
    THROUGHPUT,
    TRAIN_LOSS,
    VAL_METRICS,
    log_metrics,
)

log = logging.getLogger(__name__)

PREVIOUS_NAME = "previous.ckpt"
BEST_GLOB = "best-*.ckpt"
SHARDED_META = "meta.pt"  # Lightning's non-tensor part of a sharded (FSDP) checkpoint


class MetricLineCallback(L.Callback):
    """THE metric line (``segtrain.runtime.metric_log``) once per epoch, rank 0, printed
    by :meth:`emit` once the epoch's checkpoint is written (:class:`LastCheckpoint`).

    The last validation's scores and confusion matrix travel in the checkpoint (this
    callback's state), so a run resumed with nothing left to train reports them.

    ``throughput`` is training images per second over all ranks, data loading included
    but the epoch-end validation excluded (Lightning validates before
    ``on_train_epoch_end``, so the clock pauses while it runs).
    """

    def __init__(self, run_dir: Path | None = None) -> None:
        self.run_dir = run_dir  # where the epoch's row of metrics.csv goes (rank 0)
        self._start: float | None = None
        self._elapsed = 0.0
        self._in_epoch = False
        self._images = 0
        self.history: list[dict[str, float]] = []
        self.pending: tuple[int, dict[str, float]] | None = None
        self.final_scores: dict[str, float] = {}
        self.final_confusion: list[list[int]] | None = None

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
        train_loss = trainer.callback_metrics.get("train_loss_epoch")
        if train_loss is not None:
            metrics[TRAIN_LOSS] = float(train_loss)
        scores = getattr(pl_module, "last_val_scores", {}) or {}
        for key in VAL_METRICS:
            if key in scores:
                metrics[key] = scores[key]
        if trainer.optimizers:
            metrics[LR] = float(trainer.optimizers[0].param_groups[0]["lr"])
        metrics[THROUGHPUT] = self._images / elapsed
        epoch = trainer.current_epoch + 1
        self.history.append({"epoch": epoch, **metrics})
        self.pending = (epoch, metrics)
        if scores:
            self.final_scores = {k: float(v) for k, v in scores.items()}
            confusion = getattr(pl_module, "last_val_confusion", None)
            self.final_confusion = None if confusion is None else np.asarray(confusion).tolist()

    def emit(self, trainer: L.Trainer) -> None:
        """Print the finished epoch's line and record its row in ``metrics.csv``
        (rank 0), once."""
        if self.pending is not None and trainer.is_global_zero:
            epoch, metrics = self.pending
            log_metrics(metrics, epoch=epoch)
            if self.run_dir is not None:
                write_epoch_row(self.run_dir, epoch, {**metrics, **class_iou(self.final_scores)})
        self.pending = None

    def state_dict(self) -> dict[str, Any]:
        return {"final_scores": self.final_scores, "final_confusion": self.final_confusion}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.final_scores = dict(state_dict.get("final_scores") or {})
        self.final_confusion = state_dict.get("final_confusion")


class LastCheckpoint(Checkpoint):
    """``last.ckpt`` after every epoch (file, or sharded directory under FSDP2), the
    one it replaces kept as ``previous.ckpt``; then the epoch's metric line.

    A :class:`~lightning.pytorch.callbacks.Checkpoint`, so Lightning runs it after the
    other callbacks' ``on_train_epoch_end`` (the metric line's state is in the file).
    """

    def __init__(self, directory: Path, metric_cb: MetricLineCallback, epochs_saved: int = 0):
        self.directory = Path(directory)
        self.metric_cb = metric_cb
        self.epochs_saved = epochs_saved

    @property
    def last(self) -> Path:
        return self.directory / LAST_NAME

    @property
    def previous(self) -> Path:
        return self.directory / PREVIOUS_NAME

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            lifecycle.rotate(self.last, self.previous)
        trainer.strategy.barrier("segtrain_last_rotated")
        # every rank: a collective under FSDP2; the full state (optimizer, loops) resumes
        trainer.save_checkpoint(str(self.last), weights_only=False)
        self.epochs_saved = trainer.current_epoch + 1
        self.metric_cb.emit(trainer)


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


def probe_checkpoint(path: Path) -> int:
    """Epochs a training checkpoint holds; raises when it cannot be loaded.

    A file is opened the way resuming opens it (``weights_only=True``; memory-mapped,
    so only the archive's index and pickle are read). A sharded directory must have a
    readable ``meta.pt`` and ``.metadata`` and every shard file as long as the metadata
    says (a shard cut short by a kill or a partial S3 sync is found here, not mid-load).
    """
    if path.is_dir():
        from torch.distributed.checkpoint import FileSystemReader

        meta = torch.load(path / SHARDED_META, map_location="cpu", weights_only=True)
        ends: dict[str, int] = {}
        for info in FileSystemReader(str(path)).read_metadata().storage_data.values():
            end = int(info.offset) + int(info.length)
            ends[info.relative_path] = max(ends.get(info.relative_path, 0), end)
        for name, end in ends.items():
            shard = path / name
            if not shard.is_file() or shard.stat().st_size < end:
                raise CheckpointError(f"shard {name} is missing or truncated")
        return int(meta.get("epoch", -1)) + 1
    ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError("not a Lightning training checkpoint (no state_dict)")
    return int(ckpt.get("epoch", -1)) + 1


class RunLifecycle(EngineRun):
    """The run lifecycle for one ``LightningEngine.fit`` (see ``runtime.lifecycle``).

    ``finished()`` before anything is written; ``resume_point()`` (claims the dir,
    picks the newest loadable checkpoint); ``callbacks`` for the Trainer; ``fitting()``
    around ``trainer.fit`` (SIGTERM / SIGINT -> RunInterrupted, exit 143 / 130);
    ``complete(result)`` after the export (records the finished run).

    SIGTERM is left to Lightning's own handler (its loops stop at the next step
    boundary, synchronised across ranks, raising ``SIGTERMException``); SIGINT raises
    ``KeyboardInterrupt``, which Lightning shuts down from. Either way the partial epoch
    is abandoned and ``last`` holds the last complete one.
    """

    framework = "torch"

    def __init__(self, cfg: DictConfig, ctx: RunContext, num_classes: int) -> None:
        stop = lifecycle.StopSignals(interrupt_on={signal.SIGINT})
        super().__init__(cfg, ctx, num_classes, ctx.is_global_zero, stop)
        self.metric_cb = MetricLineCallback(Path(ctx.output_dir))
        self.last = LastCheckpoint(self.directory, self.metric_cb)
        self.resume_from: Path | None = None

    def resume_point(self) -> Path | None:
        """The newest loadable checkpoint (None: start from scratch)."""
        chief = self.is_chief
        self.claim()
        if chief:
            clean_partial(self.directory)
        if not self.cfg.resume:
            if chief:
                lifecycle.start_over(self.directory, [self.last.last, self.last.previous])
            log.info("resume=false: starting from scratch in %s", self.directory)
            return None
        best = sorted(self.directory.glob(BEST_GLOB), key=lambda p: p.stat().st_mtime)
        candidates = [self.last.last, self.last.previous, *reversed(best)]
        found = lifecycle.first_loadable(
            candidates, probe_checkpoint, quarantine=chief, expected="torch"
        )
        if found is None:
            log.info("No checkpoint in %s: starting from scratch", self.directory)
            return None
        self.resume_from, self.last.epochs_saved = found
        log.info("Resuming from %s (epoch %d done)", self.resume_from, self.last.epochs_saved)
        return self.resume_from

    @property
    def callbacks(self) -> list[L.Callback]:
        return [self.metric_cb, self.last]

    @contextmanager
    def fitting(self) -> Iterator[None]:
        """Around ``trainer.fit``: a stop signal ends the run with RunInterrupted."""
        with self.stop:
            try:
                yield
            except (KeyboardInterrupt, SystemExit):
                if not self.stop.requested:
                    raise
                saved = self.last.last if self.last.last.exists() else self.last.previous
                raise self.stop.interrupted(
                    self.last.epochs_saved, self.max_epochs, saved if saved.exists() else None
                ) from None

    def complete(self, result: RunResult) -> RunResult:
        """Fill a resumed-at-the-end run's scores from the checkpoint; record the run."""
        if not result.metrics and self.metric_cb.final_scores:
            result.metrics = dict(self.metric_cb.final_scores)
        if result.confusion is None and self.metric_cb.final_confusion is not None:
            result.confusion = np.asarray(self.metric_cb.final_confusion, dtype=np.int64)
        return super().complete(result)
