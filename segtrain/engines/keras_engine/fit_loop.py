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

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np

from segtrain.engines.base import RunResult
from segtrain.engines.keras_engine.backup import LoopBackup
from segtrain.engines.keras_engine.callbacks import (
    BestAndLastWeights,
    MetricLine,
    final_metrics,
    logger_callbacks,
)
from segtrain.engines.keras_engine.distributed import (
    DistributedLoop,
    PassTotals,
    distribute_dataset,
)
from segtrain.engines.keras_engine.export import export_model
from segtrain.engines.keras_engine.setup import TrainSetup, build_model, resume_point
from segtrain.metrics import scores_from_confusion
from segtrain.runtime.artifacts import write_metadata
from segtrain.runtime.checkpoints import clean_partial

log = logging.getLogger(__name__)


def validation_logs(totals: PassTotals, names: list[str]) -> dict[str, float]:
    """``val_loss``, ``val_mIoU`` ... and ``val_IoU/<class>`` from a summed confusion."""
    scores = scores_from_confusion(totals.confusion)
    return {"val_loss": totals.loss, **scores.as_dict("val_", names)}


def fit_data_parallel(setup: TrainSetup) -> RunResult:
    cfg, strategy, classes = setup.cfg, setup.strategy, setup.classes
    model = build_model(setup)
    loop = DistributedLoop(strategy, model, model.loss, setup.num_classes, classes.ignore_index)
    backup = LoopBackup(setup.backup_dir, setup.cluster)
    resumed_from, start_epoch = resume_point(cfg, setup.backup_dir)
    if resumed_from is not None:
        with strategy.scope():
            start_epoch = backup.restore(model)
    ckpt_dir = setup.checkpoint_dir
    if setup.is_chief:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        clean_partial(ckpt_dir)
        write_metadata(ckpt_dir, cfg, classes)

    # repeated: the loop keeps one iterator per dataset and takes ``steps`` per pass
    workers = setup.cluster.num_workers
    train = distribute_dataset(strategy, setup.train.dataset.repeat(), workers)
    val = distribute_dataset(strategy, setup.val.dataset.repeat(), workers) if setup.val else None
    last: dict[str, np.ndarray | None] = {"confusion": None}
    metric_line = MetricLine(
        setup.train.images_per_pass * setup.cluster.num_workers,  # every worker's images
        1,
        print_lines=setup.is_chief,
        confusion_of=lambda: last["confusion"],
    )
    callbacks: list[keras.callbacks.Callback] = [metric_line]
    if setup.is_chief:
        callbacks.append(BestAndLastWeights(ckpt_dir, "val_mIoU", "max"))
        callbacks += logger_callbacks(cfg, setup.ctx.log_dir)
    hooks = keras.callbacks.CallbackList(callbacks, model=model)

    max_epochs = int(cfg.trainer.max_epochs)
    every = int(cfg.trainer.check_val_every_n_epoch)
    log.info(
        "Data parallel: %d replica(s) on %d worker(s), global batch %d, %d step(s) per epoch",
        setup.replicas,
        setup.cluster.num_workers,
        int(cfg.trainer.batch_size) * setup.replicas,
        setup.train.steps,
    )
    hooks.on_train_begin()
    for epoch in range(start_epoch, max_epochs):
        hooks.on_epoch_begin(epoch)
        totals = loop.train_pass(train, setup.train.steps, hooks.on_train_batch_end)
        logs = {"loss": totals.loss}
        if val is not None and (epoch + 1) % every == 0:
            scored = loop.evaluate(val, setup.val.steps)
            last["confusion"] = scored.confusion
            logs.update(validation_logs(scored, classes.names))
        hooks.on_epoch_end(epoch, logs)
        backup.save(model, epoch + 1)
    hooks.on_train_end()
    if start_epoch >= max_epochs:
        log.info("The backup already holds all %d epochs: nothing left to train", max_epochs)

    metrics = final_metrics(
        metric_line.history,
        last["confusion"],
        classes.names,
        _revalidate(setup, loop, val),
        log_table=setup.is_chief,
    )
    model_dir = setup.ctx.model_dir
    if setup.is_chief:
        export_model(model, setup.num_classes, cfg, classes, model_dir)
    return RunResult(
        metrics=metrics,
        model_dir=model_dir,
        epochs_completed=max(max_epochs, start_epoch),
        resumed_from=resumed_from,
        extra={"history": metric_line.history, "precision": setup.policy},
    )


def _revalidate(setup: TrainSetup, loop: DistributedLoop, val):
    def run() -> tuple[dict[str, float], np.ndarray]:
        scored = loop.evaluate(val, setup.val.steps)
        metrics = validation_logs(scored, setup.classes.names)
        log.info("Validation of the restored model: val_mIoU=%.4f", metrics["val_mIoU"])
        return metrics, scored.confusion

    return run if val is not None else None
