"""Per-class loss weights from the training split's pixel frequencies (framework-free).

Both engines weight their cross-entropy with these (``model.class_weighting``), from the
frequencies ``p_c`` of the training split's labelled pixels (void excluded):

- ``enet``: ``w_c = 1 / ln(c + p_c)`` with ``c = model.enet_weight_c`` (1.02 in the
  ENet paper), between ``1/ln(c + 1)`` (1.42) and ``1/ln(c)`` (50.5 for c = 1.02);
- ``inverse``: ``w_c = 1 / p_c`` scaled to mean 1 over the classes present;
- ``none``: no weights.

A class that never occurs in the training split gets weight 0 under ``inverse`` and the
upper bound ``1/ln(c)`` under ``enet``; no pixel carries it, so it cannot affect the loss.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np

from segtrain.errors import ConfigError

log = logging.getLogger(__name__)
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


def split_class_weights(
    source: object, method: str, enet_c: float, names: Sequence[str], ignore_index: int
) -> list[float] | None:
    """Weights for ``method`` from every mask of a SampleSource (one pass over the split)."""
    if method == "none":
        return None
    masks = (source[i].mask for i in range(len(source)))  # type: ignore[index]
    counts = class_pixel_counts(masks, len(names), ignore_index)
    weights = class_weights(counts, method, enet_c)
    assert weights is not None
    log.info(
        "Class weights (%s) from %d training pixels: %s",
        method,
        int(counts.sum()),
        ", ".join(f"{n}={w:.2f}" for n, w in zip(names, weights, strict=True)),
    )
    return [float(w) for w in weights]
