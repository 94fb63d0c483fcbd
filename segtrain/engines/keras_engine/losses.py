"""Cross-entropy that ignores the void label, with optional class weights.

The reduction matches ``torch.nn.CrossEntropyLoss(weight=w, ignore_index=i)`` (the torch
engine's loss): the weighted sum of per-pixel losses divided by the sum of the weights
of the pixels that count, so both engines report comparable losses and class weighting
changes the balance between classes, not the loss scale.

Class weights (``model.class_weighting``), from the training split's pixel frequencies
``p_c`` (ignored pixels excluded):

- ``enet``: ``w_c = 1 / ln(c + p_c)`` with ``c = model.enet_weight_c`` (1.02 in the
  ENet paper), between ``1/ln(c + 1)`` (1.42) and ``1/ln(c)`` (50.5 for c = 1.02);
- ``inverse``: ``w_c = 1 / p_c`` scaled to mean 1 over the classes present;
- ``none``: all ones.

A class that never occurs in the training split gets weight 0 under ``inverse`` and
the upper bound ``1/ln(c)`` under ``enet`` (its frequency is 0); it cannot affect the
loss either way, since no pixel carries it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import tensorflow as tf

from segtrain.errors import ConfigError

_PACKAGE = "segtrain.keras"
WEIGHTINGS = ("none", "enet", "inverse")


def class_pixel_counts(
    masks: Iterable[np.ndarray | None], num_classes: int, ignore_index: int | None
) -> np.ndarray:
    """Pixels per class over ``masks`` (int64), ignoring void and out-of-range values."""
    counts = np.zeros(num_classes, np.int64)
    for mask in masks:
        if mask is None:
            continue
        flat = np.asarray(mask).reshape(-1).astype(np.int64, copy=False)
        keep = (flat >= 0) & (flat < num_classes)
        if ignore_index is not None:
            keep &= flat != ignore_index
        counts += np.bincount(flat[keep], minlength=num_classes)[:num_classes]
    return counts


def class_weights(counts: np.ndarray, method: str, enet_c: float = 1.02) -> np.ndarray | None:
    """Per-class loss weights (float32) for ``method``; None for ``none``."""
    if method not in WEIGHTINGS:
        raise ConfigError(f"model.class_weighting={method!r}; expected one of {WEIGHTINGS}")
    if method == "none":
        return None
    counts = np.asarray(counts, np.float64)
    total = counts.sum()
    if total <= 0:
        raise ConfigError(
            f"model.class_weighting={method} needs labelled training pixels, but the "
            "training split has none (all void or unlabelled)"
        )
    freq = counts / total
    if method == "enet":
        if enet_c <= 1.0:
            raise ConfigError(f"model.enet_weight_c={enet_c} must be > 1 (the paper uses 1.02)")
        return (1.0 / np.log(enet_c + freq)).astype(np.float32)
    present = freq > 0
    weights = np.zeros_like(freq)
    weights[present] = 1.0 / freq[present]
    weights[present] /= weights[present].mean()
    return weights.astype(np.float32)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MaskedSparseCrossEntropy(keras.losses.Loss):
    """Sparse categorical cross-entropy on logits that skips ``ignore_index`` pixels."""

    def __init__(
        self,
        num_classes: int,
        ignore_index: int | None = 255,
        class_weights: list[float] | None = None,
        name: str = "masked_sparse_cross_entropy",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.ignore_index = None if ignore_index is None else int(ignore_index)
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]
        if self.class_weights is not None and len(self.class_weights) != self.num_classes:
            raise ValueError(
                f"{len(self.class_weights)} class weights for {self.num_classes} classes"
            )

    def call(self, y_true, y_pred):
        target = tf.cast(y_true, tf.int32)
        logits = tf.cast(y_pred, tf.float32)
        valid = tf.logical_and(target >= 0, target < self.num_classes)
        if self.ignore_index is not None:
            valid = tf.logical_and(valid, target != self.ignore_index)
        safe = tf.where(valid, target, tf.zeros_like(target))
        per_pixel = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=safe, logits=logits)
        weight = tf.cast(valid, tf.float32)
        if self.class_weights is not None:
            weight *= tf.gather(tf.constant(self.class_weights, tf.float32), safe)
        denominator = tf.reduce_sum(weight)
        # a batch made only of void pixels contributes 0, not NaN
        return tf.math.divide_no_nan(tf.reduce_sum(per_pixel * weight), denominator)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "ignore_index": self.ignore_index,
            "class_weights": self.class_weights,
        }
