"""Optimiser and learning-rate schedule from ``cfg.model`` (and ``cfg.trainer``).

The schedule is a function of the optimiser's step counter, which is saved with the
optimiser state, so a resumed run continues the curve where it stopped.

- ``poly``: ``lr * (1 - t/T) ** poly_power`` (ENet/DeepLab practice);
- ``warmup_poly``: linear warm-up over ``model.warmup_epochs``, then poly;
- ``cosine``: ``lr * 0.5 * (1 + cos(pi * t/T))`` after the same optional warm-up;
- ``none``: constant.
"""

from __future__ import annotations

import math
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import tensorflow as tf
from omegaconf import DictConfig

from segtrain.errors import ConfigError
from segtrain.runtime.scaling import scaled_lr

_PACKAGE = "segtrain.keras"
SCHEDULES = ("poly", "warmup_poly", "cosine", "none")
OPTIMIZERS = ("adam", "adamw", "sgd")
# PReLU slopes, BatchNorm scale/offset and biases are not decayed (ENet, DeepLab practice)
NO_DECAY = ["bias", "gamma", "beta", "alpha"]


@keras.saving.register_keras_serializable(package=_PACKAGE)
class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up for ``warmup_steps``, then poly/cosine decay to 0 at ``total_steps``."""

    def __init__(
        self,
        base_lr: float,
        total_steps: int,
        kind: str = "poly",
        warmup_steps: int = 0,
        power: float = 0.9,
    ):
        if kind not in ("poly", "cosine", "constant"):
            raise ValueError(f"kind={kind!r}; expected poly, cosine or constant")
        self.base_lr = float(base_lr)
        self.total_steps = max(int(total_steps), 1)
        self.kind = kind
        self.warmup_steps = max(int(warmup_steps), 0)
        self.power = float(power)

    def __call__(self, step):
        ops = keras.ops
        step = ops.cast(step, "float32")
        total = float(self.total_steps)
        warm = float(self.warmup_steps)
        if self.kind == "constant":
            decayed = ops.convert_to_tensor(self.base_lr, "float32")
        else:
            span = max(total - warm, 1.0)
            progress = ops.clip((step - warm) / span, 0.0, 1.0)
            if self.kind == "poly":
                decayed = self.base_lr * ops.power(1.0 - progress, self.power)
            else:
                decayed = self.base_lr * 0.5 * (1.0 + ops.cos(math.pi * progress))
        if self.warmup_steps == 0:
            return decayed
        warmup = self.base_lr * (step + 1.0) / warm
        return ops.where(step < warm, warmup, decayed)

    def get_config(self):
        return {
            "base_lr": self.base_lr,
            "total_steps": self.total_steps,
            "kind": self.kind,
            "warmup_steps": self.warmup_steps,
            "power": self.power,
        }


def build_schedule(cfg: DictConfig, steps_per_epoch: int, replicas: int = 1) -> WarmupDecay:
    """The schedule for ``cfg.model.scheduler`` over ``trainer.max_epochs`` epochs.

    Steps are optimiser updates (batches / ``accumulate_grad_batches``).
    """
    name = str(cfg.model.scheduler)
    if name not in SCHEDULES:
        raise ConfigError(f"model.scheduler={name!r}; expected one of {SCHEDULES}")
    updates_per_epoch = max(steps_per_epoch // int(cfg.trainer.accumulate_grad_batches), 1)
    total = updates_per_epoch * int(cfg.trainer.max_epochs)
    warmup = 0
    if name in ("warmup_poly", "cosine"):
        warmup = round(float(cfg.model.warmup_epochs) * updates_per_epoch)
    kind = {"poly": "poly", "warmup_poly": "poly", "cosine": "cosine", "none": "constant"}[name]
    return WarmupDecay(scaled_lr(cfg, replicas), total, kind, warmup, float(cfg.model.poly_power))


class ColocatedSlots:
    """Optimizer mixin: each slot variable (momentum, velocity) on its weight's device.

    Keras asks the distribution strategy to colocate slots with their variable, which
    the default strategy does with a graph-only ``colocate_with`` that eager execution
    ignores: under model parallelism every slot would land on the first device. A
    device scope taken from the reference variable puts it where the weight lives.
    """

    def add_variable_from_reference(self, reference_variable, name=None, initializer="zeros"):
        handle = getattr(reference_variable, "value", reference_variable)
        with tf.device(getattr(handle, "device", "") or ""):
            return super().add_variable_from_reference(  # type: ignore[misc]
                reference_variable, name=name, initializer=initializer
            )


_CLASSES = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": keras.optimizers.SGD,
}


def _optimizer_class(name: str, colocate_slots: bool) -> type:
    base = _CLASSES[name]
    if not colocate_slots:
        return base
    return type(f"Colocated{base.__name__}", (ColocatedSlots, base), {})


def build_optimizer(
    cfg: DictConfig, steps_per_epoch: int, replicas: int = 1, colocate_slots: bool = False
) -> keras.optimizers.Optimizer:
    """``model.optimizer`` (adam | adamw | sgd) with the configured schedule.

    ``weight_decay`` is Keras' decoupled decay for all three (``adam`` and ``adamw``
    therefore differ only in Keras' defaults); gradient clipping (global norm) and
    accumulation come from the trainer config. ``colocate_slots`` (model parallelism)
    keeps each slot variable on its weight's device (:class:`ColocatedSlots`).
    """
    name = str(cfg.model.optimizer)
    if name not in OPTIMIZERS:
        raise ConfigError(f"model.optimizer={name!r}; expected one of {OPTIMIZERS}")
    lr = build_schedule(cfg, steps_per_epoch, replicas)
    common: dict = {"learning_rate": lr, "weight_decay": float(cfg.model.weight_decay) or None}
    clip = cfg.trainer.gradient_clip_val
    if clip:
        common["global_clipnorm"] = float(clip)
    accumulate = int(cfg.trainer.accumulate_grad_batches)
    if accumulate > 1:
        common["gradient_accumulation_steps"] = accumulate
    if name == "adamw":
        common["weight_decay"] = float(cfg.model.weight_decay)
    elif name == "sgd":
        common["momentum"] = float(cfg.model.momentum)
    opt = _optimizer_class(name, colocate_slots)(**common)
    if common.get("weight_decay"):
        opt.exclude_from_weight_decay(var_names=NO_DECAY)
    return opt
