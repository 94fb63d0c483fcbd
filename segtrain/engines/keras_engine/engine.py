"""KerasEngine: fit / load / confusion_matrix / predict_batches for ENet (Keras 3, TF).

Layout a run leaves behind (same metadata files as the torch engine, so ``segtrain
evaluate``/``predict`` accept either):

    <checkpoint_dir>/backup/            latest (+ previous) weights + optimiser + epoch
    <checkpoint_dir>/last.weights.h5    after every epoch
    <checkpoint_dir>/owner.json         whose dir (refused to another model/dataset)
    <checkpoint_dir>/finished.json      the finished run's result (a rerun reports it)
    <checkpoint_dir>/best.weights.h5    best val_mIoU so far (best.json: its score)
    <checkpoint_dir>/config.yaml, classes.json
    <model_dir>/model.keras             final model (float32, uncompiled)
    <model_dir>/saved_model/            TF SavedModel for serving (any size divisible by 8)
    <model_dir>/config.yaml, classes.json
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from segtrain.data.source import SampleSource
from segtrain.data.transforms import build_transform
from segtrain.engines.base import LoadedModel, RunResult
from segtrain.engines.keras_engine.backup import KerasRun
from segtrain.engines.keras_engine.callbacks import MetricLine
from segtrain.engines.keras_engine.cluster import Cluster, resolve_cluster
from segtrain.engines.keras_engine.data import make_dataset
from segtrain.engines.keras_engine.fit_loop import fit_data_parallel
from segtrain.engines.keras_engine.hardware import build_strategy, configure_threads, dtype_policy
from segtrain.engines.keras_engine.metrics import ConfusionMatrixScore, label_confusion
from segtrain.engines.keras_engine.setup import (
    TrainSetup,
    build_model,
    chief_callbacks,
    finish_run,
    image_size,
    prepare,
    start_checkpoint_dir,
)
from segtrain.errors import CheckpointError
from segtrain.models.enet import SIZE_FACTOR, STAGES, build_enet
from segtrain.models.enet_split import SplitENet, copy_weights_by_layer
from segtrain.runtime.artifacts import ModelArtifact
from segtrain.runtime.env import RunContext
from segtrain.runtime.metric_log import VAL_PREFIX, progress_bar

log = logging.getLogger(__name__)


def _verbose(cfg: DictConfig, ctx: RunContext) -> int:
    bar = progress_bar(str(cfg.logger.progress_bar), ctx.interactive)
    return 1 if bar and ctx.is_global_zero else 0


class KerasEngine:
    framework = "keras"

    # ------------------------------------------------------------------------ training
    def fit(self, cfg: DictConfig, ctx: RunContext) -> RunResult:
        """Train ENet: ``model.fit`` on one device or stage-split (``model_parallel``),
        the distributed loop for ``data_parallel`` (see :mod:`.fit_loop`)."""
        configure_threads(cfg)
        data_parallel = str(cfg.trainer.parallelism) == "data_parallel"
        cluster = resolve_cluster(cfg, ctx) if data_parallel else Cluster()
        # first: on CPU the strategies split the device into logical ones, which is only
        # possible before anything starts the TensorFlow runtime
        strategy = build_strategy(cfg, cluster)
        keras.utils.set_random_seed(int(cfg.seed))
        if cfg.trainer.deterministic:
            tf.config.experimental.enable_op_determinism()
        setup = prepare(cfg, ctx, strategy, cluster)
        run = KerasRun(cfg, ctx, cluster, setup.is_chief, setup.num_classes)
        if (finished := run.finished()) is not None:  # nothing trained, nothing written
            return finished
        if data_parallel:
            return run.complete(fit_data_parallel(setup, run))
        return run.complete(self._fit_keras(setup, run))

    def _fit_keras(self, setup: TrainSetup, run: KerasRun) -> RunResult:
        cfg, ctx = setup.cfg, setup.ctx
        model = build_model(setup)
        resumed_from, start_epoch = run.resume(model, setup.strategy)
        start_checkpoint_dir(setup)
        metric_line = MetricLine(
            setup.train.images_per_pass,
            1,
            print_lines=setup.is_chief,
            confusion_of=lambda: _val_confusion(model),
        )
        callbacks = chief_callbacks(setup, metric_line, run.callbacks)
        val = setup.val
        max_epochs = int(cfg.trainer.max_epochs)
        if start_epoch < max_epochs:
            with run.fitting():  # SIGTERM / SIGINT: RunInterrupted once the backup is safe
                model.fit(
                    setup.train.dataset,
                    validation_data=val.dataset if val else None,
                    validation_freq=int(cfg.trainer.check_val_every_n_epoch),
                    initial_epoch=start_epoch,
                    epochs=max_epochs,
                    callbacks=callbacks,
                    verbose=_verbose(cfg, ctx),
                )
        else:
            log.info("The backup already holds all %d epochs: nothing left to train", max_epochs)
        return finish_run(
            setup,
            model,
            metric_line,
            metric_line.last_val_confusion,
            self._revalidate(model, val),
            epochs_completed=run.epochs_saved,
            resumed_from=resumed_from,
        )

    @staticmethod
    def _revalidate(model: keras.Model, val: Any):
        def run() -> tuple[dict[str, float], np.ndarray | None]:
            logs = model.evaluate(val.dataset, return_dict=True, verbose=0)
            metrics = {f"{VAL_PREFIX}{k}": float(v) for k, v in logs.items()}
            log.info("Validation of the restored model: %s", metrics)
            return metrics, _val_confusion(model)

        return run if val is not None else None

    # ----------------------------------------------------------------------- inference
    def load(self, artifact: ModelArtifact, cfg: DictConfig) -> LoadedModel:
        path = artifact.weights
        num_classes = artifact.classes.num_classes
        if path.name.endswith(".keras"):
            model = _load_keras_file(path)
        elif path.name.endswith(".weights.h5"):
            model = _load_weights_file(path, num_classes)
        else:
            raise CheckpointError(
                f"{path}: the Keras engine reads .keras files and .weights.h5 checkpoints"
            )
        return LoadedModel.of(artifact, model, num_outputs=int(model.output.shape[-1]))

    def confusion_matrix(
        self, model: LoadedModel, source: SampleSource, cfg: DictConfig
    ) -> np.ndarray:
        num_classes = len(source.class_map.names)
        ignore = int(source.class_map.ignore_index)
        size = image_size(cfg.dataset)
        transform = build_transform(model.config.augment, size, train=False, ignore_index=ignore)
        pipeline = make_dataset(
            source,
            transform,
            size,
            int(cfg.batch_size),
            train=False,
            ignore_index=ignore,
            num_parallel_calls=int(cfg.dataset.num_workers) or None,
        )
        predict = _label_fn(model.handle)
        confusion = np.zeros((num_classes, num_classes), np.int64)
        for images, masks in pipeline.dataset:
            counts = label_confusion(masks, predict(images), num_classes, ignore)
            confusion += counts.numpy().astype(np.int64)
        return confusion

    def predict_batches(
        self, model: LoadedModel, images: list[np.ndarray], cfg: DictConfig
    ) -> Iterator[np.ndarray]:
        size = image_size(model.config.dataset)
        transform = build_transform(
            model.config.augment, size, train=False, ignore_index=model.classes.ignore_index
        )
        batch = int(cfg.batch_size)
        logits_fn = _logits_fn(model.handle)
        for start in range(0, len(images), batch):
            chunk = images[start : start + batch]
            x = np.stack([transform(np.asarray(img), None)[0] for img in chunk])
            logits = logits_fn(tf.constant(x))
            for i, img in enumerate(chunk):
                h, w = np.asarray(img).shape[:2]
                out = tf.image.resize(logits[i], (h, w), method="bilinear")
                yield tf.argmax(out, axis=-1).numpy().astype(np.uint8)


def _val_confusion(model: keras.Model) -> np.ndarray | None:
    """The confusion matrix the compiled metrics accumulated in the last evaluation."""
    for metric in _flat_metrics(model):
        if isinstance(metric, ConfusionMatrixScore):
            return np.asarray(metric.confusion.numpy(), np.int64)
    return None


def _flat_metrics(model: keras.Model) -> Iterator[Any]:
    for metric in model.metrics:
        yield metric
        yield from getattr(metric, "metrics", [])


def _load_weights_file(path: Path, num_classes: int) -> keras.Model:
    """A one-graph float32 ENet from a ``.weights.h5`` checkpoint of either layout.

    ``trainer=model_parallel`` checkpoints hold the stage-split model's layout; they are
    read into a SplitENet on the default device and moved over by layer name.
    """
    with dtype_policy("float32"):
        model = build_enet(num_classes)
    try:
        model.load_weights(str(path))
        return model
    except Exception as err:
        first = err
    try:
        with dtype_policy("float32"):
            split = SplitENet(num_classes, dict.fromkeys(STAGES, ""))
        split.load_weights(str(path))
    except Exception:
        raise CheckpointError(
            f"{path} does not fit an ENet with {num_classes} classes: {first}"
        ) from None
    copy_weights_by_layer(split, model)
    return model


def _load_keras_file(path: Path) -> keras.Model:
    # custom layers/losses/metrics/schedules are registered by this module's imports
    try:
        return keras.models.load_model(str(path), compile=False)
    except Exception as err:
        raise CheckpointError(f"cannot load the Keras model {path}: {err}") from None


def _padded_size(height: int, width: int) -> tuple[int, int]:
    def up(v: int) -> int:
        return -(-v // SIZE_FACTOR) * SIZE_FACTOR

    return up(height), up(width)


def _logits_fn(net: keras.Model) -> Any:
    """Images (B,H,W,3) -> float32 logits at (H,W); sizes off the /8 grid are resized."""

    @tf.function
    def logits(images: tf.Tensor) -> tf.Tensor:
        h, w = images.shape[1], images.shape[2]
        ph, pw = _padded_size(h, w)
        x = images if (ph, pw) == (h, w) else tf.image.resize(images, (ph, pw))
        out = tf.cast(net(x, training=False), tf.float32)
        return out if (ph, pw) == (h, w) else tf.image.resize(out, (h, w))

    return logits


def _label_fn(net: keras.Model) -> Any:
    logits = _logits_fn(net)

    def labels(images: tf.Tensor) -> tf.Tensor:
        return tf.argmax(logits(images), axis=-1, output_type=tf.int64)

    return labels
