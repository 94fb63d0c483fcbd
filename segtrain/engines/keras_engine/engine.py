"""KerasEngine: fit / load / confusion_matrix / predict_batches for ENet (Keras 3, TF).

Layout a run leaves behind (same metadata files as the torch engine, so ``segtrain
evaluate``/``predict`` accept either):

    <checkpoint_dir>/backup/            BackupAndRestore: weights + optimiser + epoch
    <checkpoint_dir>/last.weights.h5    after every epoch
    <checkpoint_dir>/best.weights.h5    best val_mIoU so far (best.json: its score)
    <checkpoint_dir>/config.yaml, classes.json
    <model_dir>/model.keras             final model (float32, uncompiled)
    <model_dir>/saved_model/            TF SavedModel for serving (any size divisible by 8)
    <model_dir>/config.yaml, classes.json
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import tensorflow as tf
from omegaconf import DictConfig, OmegaConf

from segtrain.data.source import SampleSource, open_split
from segtrain.data.transforms import build_transform
from segtrain.engines.base import LoadedModel, RunResult
from segtrain.engines.keras_engine.callbacks import (
    LAST_WEIGHTS,
    AtomicBackupAndRestore,
    BestAndLastWeights,
    MetricLine,
    backup_epoch,
)
from segtrain.engines.keras_engine.data import Shard, make_dataset
from segtrain.engines.keras_engine.hardware import (
    build_strategy,
    configure_threads,
    dtype_policy,
    jit_compile,
    precision_policy,
)
from segtrain.engines.keras_engine.losses import (
    MaskedSparseCrossEntropy,
    class_pixel_counts,
    class_weights,
)
from segtrain.engines.keras_engine.metrics import segmentation_metrics
from segtrain.engines.keras_engine.optim import build_optimizer
from segtrain.errors import CheckpointError, ConfigError
from segtrain.metrics import confusion_matrix as confusion_np
from segtrain.metrics import format_iou_table, scores_from_confusion
from segtrain.models.enet import SIZE_FACTOR, build_enet, check_input_size
from segtrain.runtime.artifacts import WEIGHT_FILES, ClassInfo, write_metadata
from segtrain.runtime.checkpoints import TMP_PREFIX, clean_partial
from segtrain.runtime.env import RunContext

log = logging.getLogger(__name__)

BACKUP_DIR = "backup"
SAVED_MODEL_DIR = "saved_model"
CLASSES_FILE = "classes.json"


def _image_size(dataset_cfg: Any) -> tuple[int, int]:
    size = [int(v) for v in dataset_cfg.image_size]
    if len(size) != 2:
        raise ConfigError(f"dataset.image_size={size}; expected [height, width]")
    return size[0], size[1]


def _num_classes(cfg: DictConfig, classes: ClassInfo) -> int:
    configured = cfg.model.get("num_classes")
    if configured is not None and int(configured) != classes.num_classes:
        raise ConfigError(
            f"model.num_classes={configured} but dataset {cfg.dataset.name} has "
            f"{classes.num_classes} classes; leave model.num_classes=null to take the dataset's"
        )
    return classes.num_classes


def _verbose(cfg: DictConfig, ctx: RunContext) -> int:
    setting = str(cfg.logger.get("progress_bar", "auto")).lower()
    bar = ctx.interactive if setting == "auto" else setting == "true"
    return 1 if bar and ctx.is_global_zero else 0


def _loss_weights(cfg: DictConfig, source: SampleSource, classes: ClassInfo) -> list[float] | None:
    method = str(cfg.model.class_weighting)
    if method == "none":
        return None
    masks = (source[i].mask for i in range(len(source)))
    counts = class_pixel_counts(masks, classes.num_classes, classes.ignore_index)
    weights = class_weights(counts, method, float(cfg.model.enet_weight_c))
    assert weights is not None
    log.info(
        "Class weights (%s) from %d training pixels: %s",
        method,
        int(counts.sum()),
        ", ".join(f"{n}={w:.2f}" for n, w in zip(classes.names, weights, strict=True)),
    )
    return [float(w) for w in weights]


def _atomic_replace_dir(build: Any, final: Path) -> None:
    """Build a directory under a temporary name, then swap it in for ``final``."""
    tmp = final.parent / f"{TMP_PREFIX}{uuid.uuid4().hex[:8]}.{final.name}"
    try:
        build(tmp)
        if final.exists():
            old = final.parent / f"{TMP_PREFIX}old.{uuid.uuid4().hex[:8]}.{final.name}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _inference_copy(model: keras.Model, num_classes: int) -> keras.Model:
    """A float32, uncompiled ENet for any size divisible by 8 with ``model``'s weights."""
    with dtype_policy("float32"):
        copy = build_enet(num_classes, name=model.name)
    copy.set_weights(model.get_weights())
    return copy


def export_model(
    model: keras.Model, num_classes: int, cfg: DictConfig, classes: ClassInfo, model_dir: Path
) -> None:
    """model.keras + SavedModel + config.yaml + classes.json into ``model_dir``."""
    model_dir.mkdir(parents=True, exist_ok=True)
    clean_partial(model_dir)
    final = _inference_copy(model, num_classes)
    keras_file = model_dir / WEIGHT_FILES["keras"]
    tmp = model_dir / f"{TMP_PREFIX}{uuid.uuid4().hex[:8]}.{keras_file.name}"
    try:
        final.save(str(tmp))
        os.replace(tmp, keras_file)
    finally:
        tmp.unlink(missing_ok=True)
    _atomic_replace_dir(lambda p: final.export(str(p), verbose=False), model_dir / SAVED_MODEL_DIR)
    write_metadata(model_dir, cfg, classes)
    log.info("Final model written to %s (model.keras, %s/)", model_dir, SAVED_MODEL_DIR)


class KerasEngine:
    framework = "keras"

    # ------------------------------------------------------------------------ training
    def fit(self, cfg: DictConfig, ctx: RunContext) -> RunResult:
        configure_threads(cfg)
        keras.utils.set_random_seed(int(cfg.seed))
        if cfg.trainer.get("deterministic"):
            tf.config.experimental.enable_op_determinism()
        policy = precision_policy(cfg)
        jit = jit_compile(cfg)
        strategy = build_strategy(cfg)
        replicas = int(strategy.num_replicas_in_sync)

        height, width = _image_size(cfg.dataset)
        check_input_size(height, width)
        train_source = open_split(cfg.dataset, "train")
        val_source = open_split(cfg.dataset, "val")
        classes = ClassInfo.from_class_map(train_source.class_map)
        num_classes = _num_classes(cfg, classes)
        if len(train_source) == 0:
            raise ConfigError(f"dataset {cfg.dataset.name}: the train split is empty")
        batch = int(cfg.trainer.batch_size)
        seed = int(cfg.seed)
        ignore = classes.ignore_index
        workers = int(cfg.dataset.num_workers) or None
        train = make_dataset(
            train_source,
            build_transform(cfg.augment, (height, width), train=True, ignore_index=ignore),
            (height, width),
            batch,
            train=True,
            seed=seed,
            ignore_index=ignore,
            shard=Shard(),
            limit_batches=cfg.trainer.limit_train_batches,
            num_parallel_calls=workers,
        )
        val = (
            make_dataset(
                val_source,
                build_transform(cfg.augment, (height, width), train=False, ignore_index=ignore),
                (height, width),
                batch,
                train=False,
                ignore_index=ignore,
                limit_batches=cfg.trainer.limit_val_batches,
                num_parallel_calls=workers,
            )
            if len(val_source)
            else None
        )
        if train.steps == 0:
            raise ConfigError(f"dataset {cfg.dataset.name}: no training batch to run")
        weights = _loss_weights(cfg, train_source, classes)

        with dtype_policy(policy), strategy.scope():
            model = build_enet(
                num_classes,
                dropout_stage1=float(cfg.model.dropout_stage1),
                dropout=float(cfg.model.dropout),
            )
            self._init_weights(model, cfg)
            model.compile(
                optimizer=build_optimizer(cfg, train.steps, replicas),
                loss=MaskedSparseCrossEntropy(num_classes, ignore, weights),
                metrics=segmentation_metrics(num_classes, ignore),
                jit_compile=jit,
            )
        log.info(
            "ENet: %d trainable parameters, %d classes, %s, %dx%d, %d train / %d val images",
            sum(int(np.prod(v.shape)) for v in model.trainable_variables),
            num_classes,
            policy,
            height,
            width,
            train.num_samples,
            val.num_samples if val else 0,
        )

        ckpt_dir = Path(ctx.checkpoint_dir)
        backup_dir = ckpt_dir / BACKUP_DIR
        resumed_from, start_epoch = self._resume_point(cfg, backup_dir)
        if ctx.is_global_zero:
            ckpt_dir.mkdir(parents=True, exist_ok=True)
            clean_partial(ckpt_dir)
            write_metadata(ckpt_dir, cfg, classes)

        metric_line = MetricLine(
            train.images_per_pass,
            replicas,
            print_lines=ctx.is_global_zero,
            confusion_of=lambda: _val_confusion(model),
        )
        callbacks: list[keras.callbacks.Callback] = [metric_line]
        if ctx.is_global_zero:
            callbacks.append(BestAndLastWeights(ckpt_dir, "val_mIoU", "max"))
        callbacks.append(AtomicBackupAndRestore(str(backup_dir), delete_checkpoint=False))
        callbacks += self._loggers(cfg, ctx)

        max_epochs = int(cfg.trainer.max_epochs)
        if start_epoch < max_epochs:
            model.fit(
                train.dataset,
                validation_data=val.dataset if val else None,
                validation_freq=int(cfg.trainer.check_val_every_n_epoch),
                epochs=max_epochs,
                callbacks=callbacks,
                verbose=_verbose(cfg, ctx),
            )
        else:
            log.info("The backup already holds all %d epochs: nothing left to train", max_epochs)
        epochs_completed = max(backup_epoch(backup_dir) or 0, start_epoch)

        metrics = self._final_metrics(model, metric_line, val, classes)
        model_dir = Path(ctx.model_dir)
        if ctx.is_global_zero:
            export_model(model, num_classes, cfg, classes, model_dir)
        return RunResult(
            metrics=metrics,
            model_dir=model_dir,
            epochs_completed=epochs_completed,
            resumed_from=resumed_from,
            extra={"history": metric_line.history, "precision": policy},
        )

    @staticmethod
    def _resume_point(cfg: DictConfig, backup_dir: Path) -> tuple[Path | None, int]:
        epoch = backup_epoch(backup_dir)
        if epoch is None:
            log.info("No backup in %s: starting from scratch", backup_dir)
            return None, 0
        if not cfg.resume:
            log.info("resume=false: discarding the backup in %s, starting from scratch", backup_dir)
            shutil.rmtree(backup_dir, ignore_errors=True)
            return None, 0
        log.info("Resuming from %s (epoch %d)", backup_dir, epoch)
        return backup_dir, epoch

    @staticmethod
    def _init_weights(model: keras.Model, cfg: DictConfig) -> None:
        source = cfg.model.get("pretrained_weights")
        if not source:
            return
        path = Path(str(source)).expanduser()
        if "://" in str(source) or not path.is_file():
            raise ConfigError(
                f"model.pretrained_weights={source}: expected a local .keras or .weights.h5 "
                "file (weights are never downloaded)"
            )
        if path.suffix == ".keras":
            model.set_weights(_load_keras_file(path).get_weights())
        else:
            try:
                model.load_weights(str(path), skip_mismatch=True)
            except Exception as err:
                raise CheckpointError(f"cannot load {path} into ENet: {err}") from None
        log.info("Initialised ENet from %s", path)

    @staticmethod
    def _loggers(cfg: DictConfig, ctx: RunContext) -> list[keras.callbacks.Callback]:
        if not ctx.is_global_zero:
            return []
        out: list[keras.callbacks.Callback] = []
        if cfg.logger.get("csv"):
            csv_dir = Path(ctx.log_dir) / "csv"
            csv_dir.mkdir(parents=True, exist_ok=True)
            out.append(keras.callbacks.CSVLogger(str(csv_dir / "metrics.csv"), append=True))
        if cfg.logger.get("tensorboard"):
            out.append(
                keras.callbacks.TensorBoard(
                    str(Path(ctx.log_dir) / "tensorboard"), write_graph=False, profile_batch=0
                )
            )
        return out

    @staticmethod
    def _final_metrics(
        model: keras.Model, metric_line: MetricLine, val: Any, classes: ClassInfo
    ) -> dict[str, float]:
        validated = [h for h in metric_line.history if "val_mIoU" in h]
        confusion = metric_line.last_val_confusion
        if validated:
            metrics = {k: float(v) for k, v in validated[-1].items() if k != "epoch"}
        elif val is not None:  # nothing validated in this process (resumed at the end)
            logs = model.evaluate(val.dataset, return_dict=True, verbose=0)
            metrics = {f"val_{'loss' if k == 'loss' else k}": float(v) for k, v in logs.items()}
            confusion = _val_confusion(model)
            log_line = {k: metrics[k] for k in metrics if k.startswith("val_")}
            log.info("Validation of the restored model: %s", log_line)
        else:
            return {}
        if confusion is not None:
            scores = scores_from_confusion(confusion)
            for key, value in scores.as_dict("val_", classes.names).items():
                metrics.setdefault(key, float(value))
            log.info("Validation per class:\n%s", format_iou_table(scores, classes.names))
        return metrics

    # ----------------------------------------------------------------------- inference
    def load(self, artifact: Path, config: DictConfig, cfg: DictConfig) -> LoadedModel:
        path = Path(artifact)
        if path.is_dir():
            for name in (WEIGHT_FILES["keras"], LAST_WEIGHTS):
                if (path / name).is_file():
                    path = path / name
                    break
            else:
                raise CheckpointError(f"no {WEIGHT_FILES['keras']} or {LAST_WEIGHTS} in {path}")
        if path.name.endswith(".keras"):
            model = _load_keras_file(path)
        elif path.name.endswith(".weights.h5"):
            num_classes = _classes_beside(path, config).num_classes
            with dtype_policy("float32"):
                model = build_enet(num_classes)
            try:
                model.load_weights(str(path))
            except Exception as err:
                raise CheckpointError(
                    f"{path} does not fit an ENet with {num_classes} classes: {err}"
                ) from None
        else:
            raise CheckpointError(
                f"{path}: the Keras engine reads .keras files and .weights.h5 checkpoints"
            )
        return LoadedModel(framework="keras", config=config, handle=model)

    def confusion_matrix(self, model: LoadedModel, cfg: DictConfig, split: str) -> np.ndarray:
        source = open_split(cfg.dataset, split)
        classes = ClassInfo.from_class_map(source.class_map)
        net: keras.Model = model.handle
        out_classes = int(net.output.shape[-1])
        if out_classes != classes.num_classes:
            raise ConfigError(
                f"the model predicts {out_classes} classes but dataset {cfg.dataset.name} has "
                f"{classes.num_classes}; evaluate on the dataset the model was trained for"
            )
        size = _image_size(cfg.dataset)
        transform = build_transform(
            model.config.augment, size, train=False, ignore_index=classes.ignore_index
        )
        batch = int(cfg.get("batch_size") or OmegaConf.select(cfg, "trainer.batch_size") or 8)
        pipeline = make_dataset(
            source,
            transform,
            size,
            batch,
            train=False,
            ignore_index=classes.ignore_index,
            num_parallel_calls=int(cfg.dataset.num_workers) or None,
        )
        predict = _label_fn(net)
        confusion = np.zeros((classes.num_classes, classes.num_classes), np.int64)
        for images, masks in pipeline.dataset:
            pred = predict(images).numpy()
            confusion += confusion_np(
                masks.numpy(), pred, classes.num_classes, classes.ignore_index
            )
        return confusion

    def predict_batches(
        self, model: LoadedModel, images: list[np.ndarray], cfg: DictConfig
    ) -> Iterator[np.ndarray]:
        config = model.config
        size = _image_size(config.dataset)
        ignore = int(OmegaConf.select(config, "dataset.ignore_index", default=255))
        transform = build_transform(config.augment, size, train=False, ignore_index=ignore)
        batch = int(cfg.get("batch_size") or 8)
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
    from segtrain.engines.keras_engine.metrics import ConfusionMatrixScore

    for metric in _flat_metrics(model):
        if isinstance(metric, ConfusionMatrixScore):
            return np.asarray(metric.confusion.numpy(), np.int64)
    return None


def _flat_metrics(model: keras.Model) -> Iterator[Any]:
    for metric in model.metrics:
        yield metric
        yield from getattr(metric, "metrics", [])


def _load_keras_file(path: Path) -> keras.Model:
    # custom layers/losses/metrics/schedules are registered by this module's imports
    try:
        return keras.models.load_model(str(path), compile=False)
    except Exception as err:
        raise CheckpointError(f"cannot load the Keras model {path}: {err}") from None


def _classes_beside(weights: Path, config: DictConfig) -> ClassInfo:
    for d in (weights.parent, weights.parent.parent):
        if (d / CLASSES_FILE).is_file():
            return ClassInfo.read(d / CLASSES_FILE)
    configured = OmegaConf.select(config, "model.num_classes")
    if configured is None:
        raise CheckpointError(f"no {CLASSES_FILE} beside {weights}: cannot tell the class count")
    return ClassInfo(
        names=[str(i) for i in range(int(configured))],
        colors=[(0, 0, 0)] * int(configured),
        ignore_index=255,
    )


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
