"""Keras metrics that accumulate a confusion matrix over a whole split.

The engine builds only the matrix (rows ground truth, columns prediction; pixels whose
target is the ignore index or outside ``[0, C)`` are dropped), with a TensorFlow
bincount on the device. Every score is computed from it by
:func:`segtrain.metrics.scores_from_confusion` (one definition for both engines), called
through ``tf.numpy_function`` so Keras can still report it every epoch.

Counts are int64 (a split easily exceeds float32's 2**24 exact integers) and are summed
across replicas under a ``tf.distribute`` strategy, never averaged.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import tensorflow as tf

from segtrain.metrics import scores_from_confusion
from segtrain.runtime.metric_log import MIOU, SCORES

_PACKAGE = "segtrain.keras"


def batch_confusion(
    y_true: tf.Tensor, logits: tf.Tensor, num_classes: int, ignore_index: int | None
) -> tf.Tensor:
    """``num_classes x num_classes`` int64 counts for one batch of logits."""
    pred = tf.argmax(logits, axis=-1, output_type=tf.int64)
    return label_confusion(y_true, pred, num_classes, ignore_index)


def label_confusion(
    y_true: tf.Tensor, pred: tf.Tensor, num_classes: int, ignore_index: int | None
) -> tf.Tensor:
    """Counts of (target, predicted class) pairs: :func:`segtrain.metrics.
    confusion_matrix`'s convention, as a TensorFlow bincount on the device."""
    target = tf.reshape(tf.cast(y_true, tf.int64), [-1])
    pred = tf.reshape(tf.cast(pred, tf.int64), [-1])
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


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ConfusionMatrixScore(keras.metrics.Metric):
    """One score (``mIoU``, ``pixel_acc``, ``mean_acc`` or ``fwIoU``) of the running
    confusion matrix; :attr:`confusion` holds the counts for per-class reports."""

    def __init__(
        self,
        num_classes: int,
        ignore_index: int | None = 255,
        score: str = MIOU,
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
        def of_matrix(confusion: np.ndarray) -> np.ndarray:
            return np.float64(scores_from_confusion(confusion).summary()[self.score])

        value = tf.numpy_function(of_matrix, [self.confusion.value], tf.float64, stateful=False)
        return tf.reshape(value, [])

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
