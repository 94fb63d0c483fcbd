"""What every Keras training run prepares, whichever loop then trains.

Data sources and classes, the input pipelines (this worker's shard, batch sized for
this worker's replicas), the model (one-graph ENet, or the stage-split one for model
parallelism) with its optimizer and loss, and where checkpoints go. ``model.fit``
(single device, model parallelism) and the distributed loop (data parallelism) both
start from a :class:`TrainSetup`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from segtrain.data.class_weights import split_class_weights
from segtrain.data.source import SampleSource, open_split
from segtrain.data.transforms import build_transform
from segtrain.engines.base import RunResult
from segtrain.engines.keras_engine.callbacks import (
    BestAndLastWeights,
    EpochRows,
    MetricLine,
    final_metrics,
    logger_callbacks,
)
from segtrain.engines.keras_engine.cluster import Cluster
from segtrain.engines.keras_engine.data import InputPipeline, Shard, common_steps, make_dataset
from segtrain.engines.keras_engine.export import export_model
from segtrain.engines.keras_engine.hardware import (
    accelerator,
    dtype_policy,
    jit_compile,
    precision_policy,
    synchronize_batchnorm,
)
from segtrain.engines.keras_engine.losses import MaskedSparseCrossEntropy
from segtrain.engines.keras_engine.metrics import segmentation_metrics
from segtrain.engines.keras_engine.optim import build_optimizer
from segtrain.engines.keras_engine.placement import stage_devices
from segtrain.errors import CheckpointError, ConfigError
from segtrain.models.enet import build_enet, check_input_size
from segtrain.models.enet_split import SplitENet, copy_weights_by_layer
from segtrain.runtime.artifacts import ClassInfo, model_num_classes, write_metadata
from segtrain.runtime.checkpoints import clean_partial
from segtrain.runtime.env import RunContext
from segtrain.runtime.metric_log import VAL_MIOU

log = logging.getLogger(__name__)

BACKUP_DIR = "backup"


def image_size(dataset_cfg: Any) -> tuple[int, int]:
    size = [int(v) for v in dataset_cfg.image_size]
    if len(size) != 2:
        raise ConfigError(f"dataset.image_size={size}; expected [height, width]")
    return size[0], size[1]


@dataclass
class TrainSetup:
    cfg: DictConfig
    ctx: RunContext
    strategy: tf.distribute.Strategy
    cluster: Cluster
    is_chief: bool  # writes checkpoints, logs, metric lines and the model
    classes: ClassInfo
    num_classes: int
    policy: str
    train: InputPipeline
    val: InputPipeline | None
    class_weights: list[float] | None

    @property
    def replicas(self) -> int:
        return int(self.strategy.num_replicas_in_sync)

    @property
    def checkpoint_dir(self) -> Path:
        return Path(self.ctx.checkpoint_dir)

    @property
    def backup_dir(self) -> Path:
        return self.checkpoint_dir / BACKUP_DIR


def prepare(
    cfg: DictConfig, ctx: RunContext, strategy: tf.distribute.Strategy, cluster: Cluster
) -> TrainSetup:
    """Sources, classes and this worker's input pipelines (``strategy`` already built)."""
    policy = precision_policy(cfg)
    height, width = image_size(cfg.dataset)
    check_input_size(height, width)
    train_source = open_split(cfg.dataset, "train")
    val_source = open_split(cfg.dataset, "val")
    classes = ClassInfo.from_class_map(train_source.class_map)
    num_classes = model_num_classes(cfg, classes)
    if len(train_source) == 0:
        raise ConfigError(f"dataset {cfg.dataset.name}: the train split is empty")
    train, val = _pipelines(cfg, strategy, cluster, train_source, val_source, classes)
    if train.steps == 0:
        raise ConfigError(f"dataset {cfg.dataset.name}: no training batch to run")
    weights = split_class_weights(
        train_source,
        str(cfg.model.class_weighting),
        float(cfg.model.enet_weight_c),
        classes.names,
        classes.ignore_index,
    )
    return TrainSetup(
        cfg=cfg,
        ctx=ctx,
        strategy=strategy,
        cluster=cluster,
        is_chief=cluster.is_chief if cluster.multi_worker else ctx.is_global_zero,
        classes=classes,
        num_classes=num_classes,
        policy=policy,
        train=train,
        val=val,
        class_weights=weights,
    )


def _pipelines(
    cfg: DictConfig,
    strategy: tf.distribute.Strategy,
    cluster: Cluster,
    train_source: SampleSource,
    val_source: SampleSource,
    classes: ClassInfo,
) -> tuple[InputPipeline, InputPipeline | None]:
    """This worker's shard, in batches of per-device batch x this worker's replicas.

    Several workers: disjoint shards of the id-sorted lists and a common step count (see
    :func:`~segtrain.engines.keras_engine.data.common_steps`).
    """
    size = image_size(cfg.dataset)
    ignore = classes.ignore_index
    local_replicas = int(strategy.num_replicas_in_sync) // cluster.num_workers
    batch = int(cfg.trainer.batch_size) * local_replicas
    shard = Shard(cluster.index, cluster.num_workers)
    workers = int(cfg.dataset.num_workers) or None
    train_limit, val_limit = cfg.trainer.limit_train_batches, cfg.trainer.limit_val_batches
    max_steps = pad_steps = None
    if cluster.multi_worker:
        try:
            max_steps = common_steps(
                len(train_source), cluster.num_workers, batch, train=True, limit_batches=train_limit
            )
        except ValueError as err:
            raise ConfigError(f"dataset {cfg.dataset.name}: {err}") from None
        pad_steps = common_steps(
            len(val_source), cluster.num_workers, batch, train=False, limit_batches=val_limit
        )
    train = make_dataset(
        train_source,
        build_transform(cfg.augment, size, train=True, ignore_index=ignore),
        size,
        batch,
        train=True,
        seed=int(cfg.seed),
        ignore_index=ignore,
        shard=shard,
        limit_batches=train_limit,
        num_parallel_calls=workers,
        max_steps=max_steps,
    )
    if not len(val_source):
        return train, None
    val = make_dataset(
        val_source,
        build_transform(cfg.augment, size, train=False, ignore_index=ignore),
        size,
        batch,
        train=False,
        ignore_index=ignore,
        shard=shard,
        limit_batches=val_limit,
        num_parallel_calls=workers,
        pad_to_steps=pad_steps,
    )
    return train, val


def build_model(setup: TrainSetup) -> keras.Model:
    """ENet + optimizer + loss, compiled in the strategy's scope.

    ``model_parallel`` builds :class:`~segtrain.models.enet_split.SplitENet` (stages and
    their optimizer slots on their devices); ``trainer.sync_batchnorm`` synchronises
    BatchNorm across data-parallel replicas (see
    :func:`~segtrain.engines.keras_engine.hardware.synchronize_batchnorm` for its cost).
    """
    cfg = setup.cfg
    split = str(cfg.trainer.parallelism) == "model_parallel"
    dropouts = {
        "dropout_stage1": float(cfg.model.dropout_stage1),
        "dropout": float(cfg.model.dropout),
    }
    with dtype_policy(setup.policy), setup.strategy.scope():
        if split:
            devices = stage_devices(cfg, accelerator(cfg))
            model = SplitENet(setup.num_classes, devices, **dropouts)
        else:
            model = build_enet(setup.num_classes, **dropouts)
        init_weights(model, cfg)
        if setup.replicas > 1 and cfg.trainer.sync_batchnorm:
            synced = synchronize_batchnorm(model)
            log.info(
                "BatchNorm synchronised across %d replicas (%d layers)", setup.replicas, synced
            )
        model.compile(
            optimizer=build_optimizer(cfg, setup.train.steps, setup.replicas, split),
            loss=MaskedSparseCrossEntropy(
                setup.num_classes, setup.classes.ignore_index, setup.class_weights
            ),
            metrics=segmentation_metrics(setup.num_classes, setup.classes.ignore_index),
            jit_compile=jit_compile(cfg),
        )
    height, width = image_size(cfg.dataset)
    log.info(
        "ENet: %d trainable parameters, %d classes, %s, %dx%d, %d replica(s), "
        "%d train / %d val images in this worker's shard",
        sum(int(np.prod(v.shape)) for v in model.trainable_variables),
        setup.num_classes,
        setup.policy,
        height,
        width,
        setup.replicas,
        setup.train.num_samples,
        setup.val.num_samples if setup.val else 0,
    )
    return model


def init_weights(model: keras.Model, cfg: DictConfig) -> None:
    """``model.pretrained_weights`` (a local .keras or .weights.h5 file) into ``model``."""
    source = cfg.model.pretrained_weights
    if not source:
        return
    path = Path(str(source)).expanduser()
    if "://" in str(source) or not path.is_file():
        raise ConfigError(
            f"model.pretrained_weights={source}: expected a local .keras or .weights.h5 "
            "file (weights are never downloaded)"
        )
    try:
        if path.suffix == ".keras":
            loaded = keras.models.load_model(str(path), compile=False)
            copy_weights_by_layer(loaded, model)
        else:
            model.load_weights(str(path), skip_mismatch=True)
    except Exception as err:
        raise CheckpointError(f"cannot load {path} into ENet: {err}") from None
    log.info("Initialised ENet from %s", path)


# -------------------------------------------------------- what both loops do around it
def start_checkpoint_dir(setup: TrainSetup) -> None:
    """The chief clears partial files from the checkpoint dir and writes its metadata."""
    if setup.is_chief:
        setup.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        clean_partial(setup.checkpoint_dir)
        write_metadata(setup.checkpoint_dir, setup.cfg, setup.classes)


def chief_callbacks(
    setup: TrainSetup,
    metric_line: MetricLine,
    lifecycle: list[keras.callbacks.Callback] | None = None,
) -> list[keras.callbacks.Callback]:
    """The chief's best/last weights, the ``lifecycle`` callbacks (backup: every worker,
    a collective under a strategy; the stop-signal check), the metric line (every
    worker; printed once its epoch is saved), the chief's ``metrics.csv`` row and its
    loggers, in that order."""
    callbacks: list[keras.callbacks.Callback] = []
    if setup.is_chief:
        callbacks.append(BestAndLastWeights(setup.checkpoint_dir, VAL_MIOU, "max"))
    callbacks += lifecycle or []
    callbacks.append(metric_line)
    if setup.is_chief:
        callbacks.append(EpochRows(metric_line, setup.ctx.output_dir, setup.classes.names))
        callbacks += logger_callbacks(setup.cfg, setup.ctx.log_dir)
    return callbacks


def finish_run(
    setup: TrainSetup,
    model: keras.Model,
    metric_line: MetricLine,
    confusion: np.ndarray | None,
    revalidate: Any,
    epochs_completed: int,
    resumed_from: Path | None,
) -> RunResult:
    """The run's final metrics, the exported model (chief only) and the RunResult."""
    metrics, confusion = final_metrics(
        metric_line.history, confusion, setup.classes.names, revalidate
    )
    model_dir = Path(setup.ctx.model_dir)
    if setup.is_chief:
        export_model(model, setup.num_classes, setup.cfg, setup.classes, model_dir)
    return RunResult(
        metrics=metrics,
        model_dir=model_dir,
        epochs_completed=epochs_completed,
        resumed_from=resumed_from,
        confusion=confusion,
        class_names=setup.classes.names,
        extra={"history": metric_line.history, "precision": setup.policy},
    )
