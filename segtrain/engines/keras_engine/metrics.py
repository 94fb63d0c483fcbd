"""Keras metrics that accumulate a confusion matrix over a whole split.

The scores are the ones of :mod:`segtrain.metrics` (rows ground truth, columns
prediction; pixels whose target is the ignore index or outside ``[0, C)`` are dropped;
a class absent from both target and prediction has IoU NaN and is left out of the
means), written in backend ops so Keras can report them every epoch. A unit test feeds
the same predictions to both implementations and compares.

Counts are int64 (a split easily exceeds float32's 2**24 exact integers) and are summed
across replicas under a ``tf.distribute`` strategy, never averaged.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import tensorflow as tf

_PACKAGE = "segtrain.keras"

#: metric name -> score; names become ``val_<name>`` in Keras logs and metric lines
SCORES = ("mIoU", "pixel_acc", "mean_acc", "fwIoU")


def batch_confusion(
    y_true: tf.Tensor, logits: tf.Tensor, num_classes: int, ignore_index: int | None
) -> tf.Tensor:
    """``num_classes x num_classes`` int64 counts for one batch of logits."""
    target = tf.reshape(tf.cast(y_true, tf.int64), [-1])
    pred = tf.reshape(tf.argmax(logits, axis=-1, output_type=tf.int64), [-1])
    keep = tf.logical_and(target >= 0, target < num_classes)
    if ignore_index is not None:
        keep = tf.logical_and(keep, target != ignore_index)
    index = tf.boolean_mask(target * num_classes + pred, keep)
    counts = tf.math.bincount(
        index,
        minlength=num_classes * num_classes,
        maxlength=num_classes * num_classes,
        dtype=tf.int64,
    )
    return tf.reshape(counts, [num_classes, num_classes])


def _nanmean(values: tf.Tensor) -> tf.Tensor:
    finite = tf.boolean_mask(values, tf.logical_not(tf.math.is_nan(values)))
    return tf.cond(
        tf.size(finite) > 0,
        lambda: tf.reduce_mean(finite),
        lambda: tf.constant(np.nan, tf.float64),
    )


def scores_tf(cm: tf.Tensor) -> dict[str, tf.Tensor]:
    """The scores of :func:`segtrain.metrics.scores_from_confusion`, in float64 TF ops."""
    cm = tf.cast(cm, tf.float64)
    tp = tf.linalg.diag_part(cm)
    gt = tf.reduce_sum(cm, axis=1)
    predicted = tf.reduce_sum(cm, axis=0)
    union = gt + predicted - tp
    total = tf.reduce_sum(cm)
    nan = tf.constant(np.nan, tf.float64)
    iou = tf.where(union > 0, tp / tf.where(union > 0, union, 1.0), nan)
    acc = tf.where(gt > 0, tp / tf.where(gt > 0, gt, 1.0), nan)
    has_pixels = total > 0
    safe_total = tf.where(has_pixels, total, 1.0)
    present = tf.logical_not(tf.math.is_nan(iou))
    freq = gt / safe_total
    fw = tf.reduce_sum(tf.where(present, freq * tf.where(present, iou, 0.0), 0.0))
    return {
        "mIoU": _nanmean(iou),
        "pixel_acc": tf.where(has_pixels, tf.reduce_sum(tp) / safe_total, nan),
        "mean_acc": _nanmean(acc),
        "fwIoU": tf.where(has_pixels, fw, nan),
        "iou": iou,
    }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ConfusionMatrixScore(keras.metrics.Metric):
    """One score (``mIoU``, ``pixel_acc``, ``mean_acc`` or ``fwIoU``) of the running
    confusion matrix; :attr:`confusion` holds the counts for per-class reports."""

    def __init__(
        self,
        num_classes: int,
        ignore_index: int | None = 255,
        score: str = "mIoU",
        name: str | None = None,
        **kwargs,
    ):
        if score not in SCORES:
            raise ValueError(f"score={score!r}; expected one of {SCORES}")
        super().__init__(name=name or score, dtype="float64", **kwargs)
        self.num_classes = int(num_classes)
        self.ignore_index = None if ignore_index is None else int(ignore_index)
        self.score = score
        self.confusion = self.add_variable(
            shape=(self.num_classes, self.num_classes),
            initializer="zeros",
            dtype="int64",
            aggregation="sum",
            name="confusion",
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError("ConfusionMatrixScore counts pixels; sample_weight is not supported")
        self.confusion.assign_add(
            batch_confusion(y_true, y_pred, self.num_classes, self.ignore_index)
        )

    def result(self):
        return scores_tf(self.confusion.value)[self.score]

    def reset_state(self):
        self.confusion.assign(tf.zeros_like(self.confusion.value))

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "ignore_index": self.ignore_index,
            "score": self.score,
        }


def segmentation_metrics(num_classes: int, ignore_index: int | None) -> list[ConfusionMatrixScore]:
    """The four scores every run reports (``val_mIoU`` ... in the epoch logs)."""
    return [ConfusionMatrixScore(num_classes, ignore_index, score) for score in SCORES]
