"""The data-parallel train and evaluation steps: ``strategy.run`` + explicit reductions.

Why not ``model.fit``: under ``MultiWorkerMirroredStrategy`` Keras 3's fit fails (its
symbolic build receives ``PerReplica`` values, keras-team/keras#20585, and then a
scalar reduce fails), and patching Keras internals would break with the next release.
This loop is small, uses only public ``tf.distribute`` API, and is the one code path for
``MirroredStrategy`` (one machine) and ``MultiWorkerMirroredStrategy`` (several):

- each replica computes its loss as ``(weighted CE sum) / (weight sum of the GLOBAL
  batch)`` (the denominator all-reduced inside the step), so the gradients the
  optimizer sums across replicas are exactly the single-device gradient of the global
  batch, however the void pixels are spread over replicas;
- BatchNorm: each replica normalises with its own batch, and the moving statistics are
  averaged across replicas after every step (one all-reduce of all of them), so every
  replica holds the same model, validation scores that model, and the saved model is
  it; ``trainer.sync_batchnorm=true`` computes the batch statistics over the global
  batch instead (``hardware.synchronize_batchnorm``, costly to trace);
- the confusion matrix of each replica is **summed** across replicas and workers
  (``strategy.reduce(SUM)``), and mIoU is computed once from the total, never averaged;
- the epoch loss is the global weighted CE sum over the global weight sum.

Every worker must run the same number of steps (collectives would wait forever for a
missing peer): the input pipelines are cut (training) or padded with void-only batches
(evaluation, which then counts nothing extra) to a common length, see
:func:`segtrain.engines.keras_engine.data.common_steps`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import tensorflow as tf

from segtrain.engines.keras_engine.hardware import batchnorm_statistics
from segtrain.engines.keras_engine.losses import MaskedSparseCrossEntropy
from segtrain.engines.keras_engine.metrics import batch_confusion

SUM = tf.distribute.ReduceOp.SUM
MEAN = tf.distribute.ReduceOp.MEAN


@dataclass
class PassTotals:
    """What one pass over a split adds up to, over every replica of every worker."""

    loss_sum: float
    weight_sum: float
    confusion: np.ndarray  # int64, rows ground truth, columns prediction
    steps: int

    @property
    def loss(self) -> float:
        return self.loss_sum / self.weight_sum if self.weight_sum > 0 else 0.0


def distribute_dataset(
    strategy: tf.distribute.Strategy, dataset: tf.data.Dataset, num_workers: int = 1
) -> tf.distribute.DistributedDataset:
    """This worker's batches (per device x local replicas), one slice per local replica.

    One worker: ``experimental_distribute_dataset`` splits each batch over the local
    replicas. Several workers: that call would treat each worker's batch as the *global*
    batch and split it over every replica of the job, so each worker would train on a
    fraction of its shard; ``distribute_datasets_from_function`` takes the worker's own
    pipeline (already sharded, auto-sharding off) and only cuts its batches per replica.
    """
    if num_workers <= 1:
        return strategy.experimental_distribute_dataset(dataset)
    local_replicas = int(strategy.num_replicas_in_sync) // num_workers
    if local_replicas > 1:
        dataset = dataset.rebatch(int(dataset.element_spec[0].shape[0]) // local_replicas)
    return strategy.distribute_datasets_from_function(lambda _context: dataset)


def build_slots(strategy: tf.distribute.Strategy, model: keras.Model) -> None:
    """Create the optimizer's slot variables (momentum, velocity) in the strategy's scope.

    Left to Keras, they are created lazily by the first ``apply_gradients``, inside the
    traced replica function. Measured on ENet with Adam over 2 logical CPUs (Keras 3.15,
    TF 2.21): that made the first step take 235 s to trace and every later step 9.4 s;
    built up front, 64 s and 0.13 s. (SGD without momentum has no slots and was fast
    either way, which is how the cause was found.)
    """
    optimizer = model.optimizer
    if not optimizer.built:
        with strategy.scope():
            optimizer.build(model.trainable_variables)


class DistributedLoop:
    """Train and evaluate ``model`` under ``strategy`` (built in its scope, compiled with
    the optimizer that updates it)."""

    def __init__(
        self,
        strategy: tf.distribute.Strategy,
        model: keras.Model,
        loss: MaskedSparseCrossEntropy,
        num_classes: int,
        ignore_index: int | None,
    ):
        self.strategy = strategy
        self.model = model
        self.optimizer = model.optimizer
        self.loss = loss
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self._iterators: dict[int, Any] = {}
        self._statistics = batchnorm_statistics(model)
        build_slots(strategy, model)
        self._train = tf.function(self._train_step)
        self._eval = tf.function(self._eval_step)

    # ------------------------------------------------------------------ replica steps
    def _replica_train(self, images: tf.Tensor, masks: tf.Tensor):
        context = tf.distribute.get_replica_context()
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            logits = self.model(images, training=True)
            numerator, denominator = self.loss.parts(masks, logits)
            global_weight = context.all_reduce(SUM, denominator)
            loss = tf.math.divide_no_nan(numerator, global_weight)
            if self.model.losses:  # regularisers: their mean over replicas once
                loss += tf.add_n(self.model.losses) / context.num_replicas_in_sync
            scaled = self.optimizer.scale_loss(loss)  # loss scaling under mixed_float16
        gradients = tape.gradient(scaled, variables)
        # Keras' optimizer all-reduces (sums) the gradients across replicas
        self.optimizer.apply_gradients(zip(gradients, variables, strict=True))
        self._average_statistics(context)
        return numerator, denominator, self._confusion(masks, logits)

    def _average_statistics(self, context: tf.distribute.ReplicaContext) -> None:
        """Replace every replica's BatchNorm moving statistics by their mean over replicas.

        Keras creates them without an aggregation, so each replica would otherwise keep
        its own. One all-reduce of all of them concatenated: TensorFlow's per-call cost
        of tracing an all-reduce is a walk over the graph, paid once here.
        """
        if context.num_replicas_in_sync == 1 or not self._statistics:
            return
        flat = tf.concat([tf.reshape(v.value, [-1]) for v in self._statistics], axis=0)
        mean = context.all_reduce(MEAN, flat)
        offset = 0
        for variable in self._statistics:
            size = int(np.prod(variable.shape))
            variable.assign(tf.reshape(mean[offset : offset + size], variable.shape))
            offset += size

    def _replica_eval(self, images: tf.Tensor, masks: tf.Tensor):
        logits = self.model(images, training=False)
        numerator, denominator = self.loss.parts(masks, logits)
        return numerator, denominator, self._confusion(masks, logits)

    def _confusion(self, masks: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        return batch_confusion(masks, logits, self.num_classes, self.ignore_index)

    def _reduced(self, per_replica):
        return tuple(self.strategy.reduce(SUM, value, axis=None) for value in per_replica)

    def _train_step(self, iterator):
        return self._reduced(self.strategy.run(self._replica_train, args=next(iterator)))

    def _eval_step(self, iterator):
        return self._reduced(self.strategy.run(self._replica_eval, args=next(iterator)))

    # ----------------------------------------------------------------------- passes
    def train_pass(
        self,
        dataset: tf.distribute.DistributedDataset,
        steps: int,
        on_step_end: Callable[[int], None] | None = None,
    ) -> PassTotals:
        """``steps`` optimiser steps (the same number on every worker) from a repeated
        distributed dataset."""
        return self._pass(self._train, dataset, steps, on_step_end)

    def evaluate(self, dataset: tf.distribute.DistributedDataset, steps: int) -> PassTotals:
        """Loss and summed confusion matrix over the whole (sharded) split."""
        return self._pass(self._eval, dataset, steps, None)

    def _pass(self, step, dataset, steps, on_step_end) -> PassTotals:
        totals = PassTotals(0.0, 0.0, np.zeros((self.num_classes,) * 2, np.int64), 0)
        # one iterator per dataset for the whole run (datasets are repeated, each pass
        # takes exactly ``steps``): a fresh iterator every epoch made tf.function trace
        # the (slow to trace) distributed step again every epoch
        key = id(dataset)
        if key not in self._iterators:
            self._iterators[key] = iter(dataset)
        iterator = self._iterators[key]
        for i in range(steps):
            numerator, denominator, confusion = step(iterator)
            totals.loss_sum += float(numerator)
            totals.weight_sum += float(denominator)
            totals.confusion += confusion.numpy().astype(np.int64)
            totals.steps += 1
            if on_step_end is not None:
                on_step_end(i)
        return totals
