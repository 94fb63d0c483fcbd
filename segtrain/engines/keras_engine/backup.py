"""The Keras run lifecycle (``runtime.lifecycle``) for both loops: backup, resume with
fallback, finished runs, SIGTERM / SIGINT.

``<checkpoint_dir>/backup/latest.weights.h5`` holds model weights + optimizer state
(Keras' weights format, BackupAndRestore's layout) and, as an HDF5 attribute, the
epochs it completes; the one it replaces is kept as ``previous.weights.h5`` and
``training_metadata.json`` repeats the epoch for readers. Every file is written
atomically after every epoch, so a kill at any instant leaves complete backups that each
say which epoch they hold. Resuming takes the newest that loads (a truncated or corrupt
one is skipped with a warning naming it), before ``model.fit`` / the distributed loop
starts, so a single-device backup resumes under ``trainer=data_parallel`` and back.

Each epoch ends: best/last weights -> backup -> the metric line (callback order, see
``setup.chief_callbacks``), so a line is printed only once its epoch is safe.

Multi-worker: every worker restores from the chief's backup (the checkpoint directory
must be shared storage, or restored on every host as SageMaker does from
``checkpoint_s3_uri``); every worker saves, but only the chief into the backup directory
(:func:`~segtrain.engines.keras_engine.cluster.write_dir`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import h5py
import keras

from segtrain.engines.keras_engine.callbacks import (
    BACKUP_METADATA,
    BACKUP_WEIGHTS,
    WEIGHTS_SUFFIX,
    backup_epoch,
)
from segtrain.engines.keras_engine.cluster import Cluster, write_dir
from segtrain.engines.run_lifecycle import EngineRun
from segtrain.errors import CheckpointError
from segtrain.runtime import lifecycle
from segtrain.runtime.checkpoints import atomic_write, atomic_write_text, clean_partial

log = logging.getLogger(__name__)

PREVIOUS_WEIGHTS = "previous.weights.h5"
EPOCHS_ATTR = "segtrain_epochs"  # HDF5 root attribute: epochs the backup completes


def backup_epochs(path: Path) -> int:
    """Epochs a backup file completes (its attribute; the metadata file for a backup
    written before the attribute existed). Raises for an unreadable file."""
    with h5py.File(path, "r") as fh:
        if EPOCHS_ATTR in fh.attrs:
            return int(fh.attrs[EPOCHS_ATTR])
    if path.name == BACKUP_WEIGHTS and (epoch := backup_epoch(path.parent)) is not None:
        return epoch
    raise CheckpointError("it does not say which epoch it holds")


class LoopBackup:
    """Save after every epoch (previous kept); restore the newest loadable backup."""

    def __init__(self, backup_dir: Path, cluster: Cluster, is_chief: bool = True):
        self.backup_dir = Path(backup_dir)
        self.cluster = cluster
        self.is_chief = is_chief

    @property
    def candidates(self) -> list[Path]:
        return [self.backup_dir / BACKUP_WEIGHTS, self.backup_dir / PREVIOUS_WEIGHTS]

    def restore(self, model: keras.Model) -> int | None:
        """Load the newest loadable backup into ``model`` (optimizer built first);
        the epochs it holds, or None when there is no backup."""
        optimizer = model.optimizer
        if optimizer is not None and not optimizer.built:  # its slots receive the state
            optimizer.build(model.trainable_variables)

        def load(path: Path) -> int:
            epochs = backup_epochs(path)
            model.load_weights(str(path))
            return epochs

        found = lifecycle.first_loadable(
            self.candidates, load, quarantine=self.is_chief, expected="keras"
        )
        return None if found is None else found[1]

    def save(self, model: keras.Model, epochs_done: int) -> None:
        def write(tmp: Path) -> None:
            model.save_weights(str(tmp))
            with h5py.File(tmp, "a") as fh:
                fh.attrs[EPOCHS_ATTR] = int(epochs_done)

        with write_dir(self.backup_dir, self.cluster) as directory:
            latest = directory / BACKUP_WEIGHTS
            lifecycle.rotate(latest, directory / PREVIOUS_WEIGHTS)
            atomic_write(latest, write, suffix=WEIGHTS_SUFFIX)
            atomic_write_text(
                directory / BACKUP_METADATA, json.dumps({"epoch": epochs_done, "batch": -1})
            )


class EpochBackup(keras.callbacks.Callback):
    """Saves the backup at every epoch end (every worker: a collective under MWMS)."""

    def __init__(self, backup: LoopBackup, epochs_saved: int = 0):
        super().__init__()
        self.backup = backup
        self.epochs_saved = epochs_saved

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.backup.save(self.model, epoch + 1)
        self.epochs_saved = epoch + 1


class StopOnSignal(keras.callbacks.Callback):
    """Raises :class:`~segtrain.runtime.lifecycle.StopTraining` at the first step
    boundary (training or validation) after SIGTERM / SIGINT."""

    def __init__(self, stop: lifecycle.StopSignals):
        super().__init__()
        self.stop = stop

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.stop.check()

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.stop.check()


class KerasRun(EngineRun):
    """The lifecycle of one Keras fit: ``finished()`` before anything is written,
    ``resume(model)``, ``callbacks`` (backup + stop), ``fitting()`` around the loop,
    ``complete(result)`` after the export."""

    framework = "keras"

    def __init__(self, cfg, ctx, cluster: Cluster, is_chief: bool, num_classes: int):
        super().__init__(cfg, ctx, num_classes, is_chief, lifecycle.StopSignals())
        self.backup = LoopBackup(self.directory / "backup", cluster, is_chief)
        self.epoch_backup = EpochBackup(self.backup)

    @property
    def epochs_saved(self) -> int:
        return self.epoch_backup.epochs_saved

    def resume(self, model: keras.Model, strategy) -> tuple[Path | None, int]:
        """(backup dir resumed from, epochs it holds), or (None, 0) to start afresh."""
        self.claim()
        if self.is_chief:
            clean_partial(self.backup.backup_dir)
        if not self.cfg.resume:
            if self.is_chief:
                lifecycle.start_over(self.directory, [self.backup.backup_dir])
            log.info("resume=false: starting from scratch in %s", self.directory)
            return None, 0
        with strategy.scope():
            epochs = self.backup.restore(model)
        if epochs is None:
            log.info("No backup in %s: starting from scratch", self.backup.backup_dir)
            return None, 0
        self.epoch_backup.epochs_saved = epochs
        log.info("Resuming from %s (epoch %d)", self.backup.backup_dir, epochs)
        return self.backup.backup_dir, epochs

    @property
    def callbacks(self) -> list[keras.callbacks.Callback]:
        return [self.epoch_backup, StopOnSignal(self.stop)]

    @contextmanager
    def fitting(self) -> Iterator[None]:
        """Around the training loop: a stop signal ends the run with RunInterrupted."""
        with self.stop:
            try:
                yield
            except (lifecycle.StopTraining, KeyboardInterrupt):
                if not self.stop.requested:
                    raise
                saved = self.backup.backup_dir if self.epochs_saved else None
                raise self.stop.interrupted(self.epochs_saved, self.max_epochs, saved) from None
