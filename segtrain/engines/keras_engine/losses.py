"""Cross-entropy that ignores the void label, with optional class weights.

The reduction matches ``torch.nn.CrossEntropyLoss(weight=w, ignore_index=i)`` (the torch
engine's loss): the weighted sum of per-pixel losses divided by the sum of the weights
of the pixels that count, so both engines report comparable losses and class weighting
changes the balance between classes, not the loss scale.

Class weights (``model.class_weighting``) come from :mod:`segtrain.data.class_weights`,
framework-free and shared with the torch engine.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import tensorflow as tf

_PACKAGE = "segtrain.keras"


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

    def parts(self, y_true, y_pred) -> tuple[tf.Tensor, tf.Tensor]:
        """``(weighted sum of per-pixel losses, sum of the weights)`` of one batch.

        The loss is their ratio. The distributed train step all-reduces the denominator
        so that every replica divides by the *global* weight sum: the summed gradients are
        then exactly the single-device gradient of the global batch, even when replicas
        hold different numbers of void pixels.
        """
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
        return tf.reduce_sum(per_pixel * weight), tf.reduce_sum(weight)

    def call(self, y_true, y_pred):
        numerator, denominator = self.parts(y_true, y_pred)
        # a batch made only of void pixels contributes 0, not NaN
        return tf.math.divide_no_nan(numerator, denominator)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "ignore_index": self.ignore_index,
            "class_weights": self.class_weights,
        }
