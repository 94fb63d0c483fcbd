"""Learning-rate scaling with the global batch (``trainer.lr_scaling``), framework-free.

Data parallelism multiplies the batch one optimiser step sees by the number of replicas;
keeping ``model.lr`` would then take fewer, equally long steps per epoch. The usual
remedies are the linear rule (Goyal et al. 2017, for SGD) and the square-root rule (often
better for Adam): ``lr * ratio`` or ``lr * sqrt(ratio)`` with ``ratio = global batch /
trainer.lr_scaling_base_batch``. Both engines call :func:`scaled_lr`, so a preset means
the same learning rate whichever framework trains; this module imports neither.
"""

from __future__ import annotations

import math
from typing import Any

from segtrain.errors import ConfigError

RULES = ("none", "linear", "sqrt")


def scale_lr(base_lr: float, global_batch: int, rule: str, base_batch: int) -> float:
    """``base_lr`` scaled from ``base_batch`` to ``global_batch`` by ``rule``."""
    if rule not in RULES:
        raise ConfigError(f"trainer.lr_scaling={rule!r}; expected none, linear or sqrt")
    ratio = global_batch / max(int(base_batch), 1)
    if rule == "linear":
        return base_lr * ratio
    if rule == "sqrt":
        return base_lr * math.sqrt(ratio)
    return base_lr


def global_batch_size(cfg: Any, replicas: int | None = None) -> int:
    """Samples per optimiser update: per-device batch x replicas x accumulation.

    ``replicas`` defaults to ``hardware.devices * hardware.nodes`` (one replica per device,
    as in both engines' data parallelism).
    """
    if replicas is None:
        replicas = int(cfg.hardware.devices) * int(cfg.hardware.nodes)
    return int(cfg.trainer.batch_size) * int(replicas) * int(cfg.trainer.accumulate_grad_batches)


def scaled_lr(cfg: Any, replicas: int | None = None) -> float:
    """``model.lr`` scaled with the global batch by ``trainer.lr_scaling``."""
    return scale_lr(
        float(cfg.model.lr),
        global_batch_size(cfg, replicas),
        str(cfg.trainer.lr_scaling),
        int(cfg.trainer.lr_scaling_base_batch),
    )
