"""Backup and restore for the data-parallel loop, in BackupAndRestore's own layout.

``<checkpoint_dir>/backup/latest.weights.h5`` (model weights + optimizer state, Keras'
weights format) and ``training_metadata.json`` (epochs completed), written atomically,
weights first: the layout of :class:`~segtrain.engines.keras_engine.callbacks.
AtomicBackupAndRestore`, so the resume logic (``backup_epoch``) is shared and a backup
written by a single-device run resumes under ``trainer=data_parallel`` and back.

Multi-worker: every worker restores from the chief's backup (the checkpoint directory
must be shared storage, or restored on every host as SageMaker does from
``checkpoint_s3_uri``); every worker saves, but only the chief into the backup directory
(:func:`~segtrain.engines.keras_engine.cluster.write_dir`).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras

from segtrain.engines.keras_engine.callbacks import (
    BACKUP_METADATA,
    BACKUP_WEIGHTS,
    atomic_save_weights,
    backup_epoch,
)
from segtrain.engines.keras_engine.cluster import Cluster, write_dir
from segtrain.errors import CheckpointError
from segtrain.runtime.checkpoints import atomic_write_text

log = logging.getLogger(__name__)


class LoopBackup:
    """Save after every epoch; restore weights, optimizer state and the epoch count."""

    def __init__(self, backup_dir: Path, cluster: Cluster):
        self.backup_dir = Path(backup_dir)
        self.cluster = cluster

    def restore(self, model: keras.Model) -> int:
        """Load the backup into ``model`` (optimizer built first); epochs it holds."""
        epoch = backup_epoch(self.backup_dir)
        if epoch is None:
            return 0
        optimizer = model.optimizer
        if not optimizer.built:  # its variables must exist to receive the saved state
            optimizer.build(model.trainable_variables)
        try:
            model.load_weights(str(self.backup_dir / BACKUP_WEIGHTS))
        except Exception as err:
            raise CheckpointError(f"cannot restore {self.backup_dir}: {err}") from None
        log.info("Restored %s: %d epoch(s) done", self.backup_dir, epoch)
        return epoch

    def save(self, model: keras.Model, epochs_done: int) -> None:
        with write_dir(self.backup_dir, self.cluster) as directory:
            atomic_save_weights(model, directory / BACKUP_WEIGHTS)
            atomic_write_text(
                directory / BACKUP_METADATA, json.dumps({"epoch": epochs_done, "batch": -1})
            )
