"""``trainer=data_parallel``: the epoch loop around :class:`DistributedLoop`.

The same callbacks as the ``model.fit`` path (metric line, best/last weights, CSV and
TensorBoard loggers) are driven by hand through ``keras.callbacks.CallbackList``, so a
data-parallel run prints the same metric lines and leaves the same files. Only the chief
prints and writes; every worker trains, validates and takes part in saving the backup
(:class:`~segtrain.engines.keras_engine.backup.LoopBackup`).
"""

from __future__ import annotations

import logging
import os
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np

from segtrain.engines.base import RunResult
from segtrain.engines.keras_engine.backup import KerasRun
from segtrain.engines.keras_engine.callbacks import MetricLine
from segtrain.engines.keras_engine.distributed import (
    DistributedLoop,
    PassTotals,
    distribute_dataset,
)
from segtrain.engines.keras_engine.setup import (
    TrainSetup,
    build_model,
    chief_callbacks,
    finish_run,
    start_checkpoint_dir,
)
from segtrain.metrics import scores_from_confusion
from segtrain.runtime.metric_log import VAL_LOSS, VAL_MIOU, VAL_PREFIX

log = logging.getLogger(__name__)


def validation_logs(totals: PassTotals, names: list[str]) -> dict[str, float]:
    """``val_loss``, ``val_mIoU`` ... and ``val_IoU/<class>`` from a summed confusion."""
    scores = scores_from_confusion(totals.confusion)
    return {VAL_LOSS: totals.loss, **scores.as_dict(VAL_PREFIX, names)}


def fit_data_parallel(setup: TrainSetup, run: KerasRun) -> RunResult:
    """Train through :class:`DistributedLoop` (every worker), export from the chief."""
    model = build_model(setup)
    classes = setup.classes
    loop = DistributedLoop(
        setup.strategy, model, model.loss, setup.num_classes, classes.ignore_index
    )
    resumed_from, start_epoch = run.resume(model, setup.strategy)
    start_checkpoint_dir(setup)
    train, val = _distributed_splits(setup)
    last: dict[str, np.ndarray | None] = {"confusion": None}
    metric_line = MetricLine(
        setup.train.images_per_pass * setup.cluster.num_workers,  # every worker's images
        1,
        print_lines=setup.is_chief,
        confusion_of=lambda: last["confusion"],
    )
    callbacks = chief_callbacks(setup, metric_line, run.callbacks)
    hooks = keras.callbacks.CallbackList(callbacks, model=model)
    max_epochs = int(setup.cfg.trainer.max_epochs)
    _log_layout(setup)
    with run.fitting():  # SIGTERM / SIGINT: RunInterrupted once the backup is safe
        hooks.on_train_begin()
        for epoch in range(start_epoch, max_epochs):
            _run_epoch(setup, loop, hooks, (train, val), epoch, last)  # ends in the backup
        hooks.on_train_end()
    if start_epoch >= max_epochs:
        log.info("The backup already holds all %d epochs: nothing left to train", max_epochs)
    return finish_run(
        setup,
        model,
        metric_line,
        last["confusion"],
        _revalidate(setup, loop, val),
        epochs_completed=run.epochs_saved,
        resumed_from=resumed_from,
    )


def _distributed_splits(setup: TrainSetup) -> tuple[Any, Any]:
    """This worker's train and val pipelines, distributed over its replicas.

    Repeated: the loop keeps one iterator per dataset and takes ``steps`` per pass.
    """
    workers = setup.cluster.num_workers
    train = distribute_dataset(setup.strategy, setup.train.dataset.repeat(), workers)
    val = None
    if setup.val:
        val = distribute_dataset(setup.strategy, setup.val.dataset.repeat(), workers)
    return train, val


def _log_layout(setup: TrainSetup) -> None:
    log.info(
        "Data parallel: %d replica(s) on %d worker(s), global batch %d, %d step(s) per epoch",
        setup.replicas,
        setup.cluster.num_workers,
        int(setup.cfg.trainer.batch_size) * setup.replicas,
        setup.train.steps,
    )


def _run_epoch(
    setup: TrainSetup,
    loop: DistributedLoop,
    hooks: keras.callbacks.CallbackList,
    splits: tuple[Any, Any],
    epoch: int,
    last: dict[str, np.ndarray | None],
) -> None:
    """One training pass and, when due, a validation whose confusion matrix goes into
    ``last`` before the epoch-end hooks (the metric line reads it there)."""
    train, val = splits
    hooks.on_epoch_begin(epoch)
    totals = loop.train_pass(train, setup.train.steps, hooks.on_train_batch_end)
    logs = {"loss": totals.loss}
    every = int(setup.cfg.trainer.check_val_every_n_epoch)
    if val is not None and (epoch + 1) % every == 0:
        scored = loop.evaluate(val, setup.val.steps)
        last["confusion"] = scored.confusion
        logs.update(validation_logs(scored, setup.classes.names))
    hooks.on_epoch_end(epoch, logs)


def _revalidate(setup: TrainSetup, loop: DistributedLoop, val):
    def run() -> tuple[dict[str, float], np.ndarray]:
        scored = loop.evaluate(val, setup.val.steps)
        metrics = validation_logs(scored, setup.classes.names)
        log.info("Validation of the restored model: %s=%.4f", VAL_MIOU, metrics[VAL_MIOU])
        return metrics, scored.confusion

    return run if val is not None else None
