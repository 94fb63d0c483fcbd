"""Figures of a run and of an evaluation, as PNG bytes (matplotlib, Agg backend).

The confusion-matrix heatmap, the per-class IoU bars (one model or two side by side),
the training curves of ``metrics.csv`` and a sweep's parameter/objective scatter. Each
function returns PNG bytes, so the same figure goes into a file beside ``metrics.json``
(:func:`save_png_bytes`, atomic) or into the HTML report as a data URI. The scores come
from :mod:`segtrain.metrics`; the only arithmetic here is for display (row
normalisation of the heatmap). Overlays of predictions on images are in
:mod:`segtrain.visualize` (OpenCV).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from segtrain.runtime.checkpoints import atomic_write_bytes
from segtrain.runtime.metric_log import (
    EPOCH,
    LR,
    MIOU,
    PIXEL_ACC,
    THROUGHPUT,
    TRAIN_LOSS,
    VAL_LOSS,
    VAL_MIOU,
    VAL_PREFIX,
)

#: the heatmap writes each cell's percentage when there are at most this many classes
ANNOTATE_UP_TO = 16
LOG_FLOOR = 1e-4  # smallest fraction the log colour scale shows (empty cells: below it)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any, dpi: int = 100) -> bytes:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def save_png_bytes(path: Path, data: bytes) -> Path:
    """Write a figure's PNG bytes atomically."""
    return atomic_write_bytes(path, data)


def row_normalised(confusion: np.ndarray) -> np.ndarray:
    """Each ground-truth row divided by its pixel count (rows without pixels: NaN)."""
    cm = np.asarray(confusion, dtype=np.float64)
    totals = cm.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(totals > 0, cm / np.where(totals > 0, totals, 1), np.nan)


def confusion_png(
    confusion: np.ndarray, names: Sequence[str], log_color: bool = False, title: str = ""
) -> bytes:
    """Heatmap of the row-normalised confusion matrix (rows: ground truth).

    ``log_color`` spreads the colours logarithmically, so the small confusions between
    rare classes stay visible beside a bright diagonal.
    """
    from matplotlib.colors import LogNorm, Normalize

    plt = _pyplot()
    norm_cm = row_normalised(confusion)
    n = len(names)
    size = max(4.5, 0.38 * n + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    shown = np.ma.masked_invalid(np.maximum(norm_cm, LOG_FLOOR) if log_color else norm_cm)
    norm = LogNorm(vmin=LOG_FLOOR, vmax=1.0) if log_color else Normalize(vmin=0.0, vmax=1.0)
    image = ax.imshow(shown, cmap="viridis", norm=norm, interpolation="nearest")
    cbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    cbar.set_label("fraction of the true class" + (" (log)" if log_color else ""))
    ax.set_xticks(range(n), list(names), rotation=75, fontsize=7)
    ax.set_yticks(range(n), list(names), fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    ax.set_title(title or "Confusion matrix (rows normalised)", fontsize=10)
    if n <= ANNOTATE_UP_TO:
        for (r, c), value in np.ndenumerate(norm_cm):
            if math.isfinite(value) and value >= 0.005:
                color = "black" if value > 0.6 else "white"
                ax.text(
                    c, r, f"{100 * value:.0f}", ha="center", va="center", fontsize=6, color=color
                )
    fig.tight_layout()
    return _png(fig)


def _bar_colors(colors: Sequence[Sequence[int]] | None, n: int) -> list[Any]:
    if not colors:
        return ["#4c72b0"] * n
    return [tuple(np.asarray(c[:3], dtype=float) / 255.0) for c in colors[:n]]


def iou_bars_png(
    iou: Sequence[float],
    names: Sequence[str],
    colors: Sequence[Sequence[int]] | None = None,
    title: str = "Per-class IoU",
) -> bytes:
    """One bar per class in the class's own colour; classes without pixels marked n/a."""
    plt = _pyplot()
    values = np.asarray(iou, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.32 * len(names) + 2.0), 4.0))
    x = np.arange(len(names))
    ax.bar(
        x,
        np.nan_to_num(values),
        color=_bar_colors(colors, len(names)),
        edgecolor="black",
        linewidth=0.4,
    )
    for i in np.flatnonzero(np.isnan(values)):
        ax.text(i, 0.01, "n/a", ha="center", va="bottom", fontsize=6, rotation=90)
    ax.set_xticks(x, list(names), rotation=75, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("IoU")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def iou_comparison_png(
    iou_a: Sequence[float], iou_b: Sequence[float], names: Sequence[str], labels: Sequence[str]
) -> bytes:
    """Two models' per-class IoU side by side, and their difference (a - b) below."""
    plt = _pyplot()
    a, b = np.asarray(iou_a, dtype=np.float64), np.asarray(iou_b, dtype=np.float64)
    width = max(6.0, 0.4 * len(names) + 2.0)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(width, 6.0), sharex=True, gridspec_kw={"height_ratios": [2, 1]}
    )
    x = np.arange(len(names))
    top.bar(x - 0.2, np.nan_to_num(a), 0.4, label=labels[0], color="#4c72b0")
    top.bar(x + 0.2, np.nan_to_num(b), 0.4, label=labels[1], color="#dd8452")
    top.set_ylim(0, 1)
    top.set_ylabel("IoU")
    top.legend(fontsize=7)
    top.grid(axis="y", alpha=0.3)
    diff = a - b
    bottom.bar(
        x, np.nan_to_num(diff), color=np.where(np.nan_to_num(diff) >= 0, "#55a868", "#c44e52")
    )
    bottom.axhline(0, color="black", linewidth=0.6)
    bottom.set_ylabel(f"{labels[0]} - {labels[1]}", fontsize=7)
    bottom.set_xticks(x, list(names), rotation=75, fontsize=7)
    fig.tight_layout()
    return _png(fig)


def _series(rows: Sequence[Mapping[str, float]], key: str) -> tuple[list[float], list[float]]:
    points = [(r[EPOCH], r[key]) for r in rows if key in r and math.isfinite(r[key])]
    return [p[0] for p in points], [p[1] for p in points]


def curves_png(rows: Sequence[Mapping[str, float]]) -> bytes:
    """Losses, validation mIoU / pixel accuracy, learning rate and throughput per epoch."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(10.0, 6.4))
    panels = [
        (axes[0, 0], "loss", [(TRAIN_LOSS, "train"), (VAL_LOSS, "val")]),
        (
            axes[0, 1],
            "validation score",
            [(VAL_MIOU, MIOU), (VAL_PREFIX + PIXEL_ACC, "pixel acc")],
        ),
        (axes[1, 0], "learning rate", [(LR, "lr")]),
        (axes[1, 1], "throughput (images/s)", [(THROUGHPUT, "train")]),
    ]
    for ax, title, keys in panels:
        for key, label in keys:
            xs, ys = _series(rows, key)
            if xs:
                ax.plot(xs, ys, marker="o", markersize=3, label=label)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    return _png(fig)


def sweep_png(trials: Sequence[Mapping[str, Any]], params: Sequence[str], objective: str) -> bytes:
    """Objective against each swept parameter (one panel per parameter)."""
    plt = _pyplot()
    params = list(params) or ["trial"]
    fig, axes = plt.subplots(1, len(params), figsize=(3.6 * len(params) + 1, 3.4), squeeze=False)
    for ax, name in zip(axes[0], params, strict=True):
        xs: list[Any] = []
        ys: list[float] = []
        for t in trials:
            value, score = t["params"].get(name, t["number"]), t.get("objective")
            if score is not None and math.isfinite(float(score)):
                xs.append(value)
                ys.append(float(score))
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in xs)
        positions = xs if numeric else [str(v) for v in xs]
        ax.scatter(positions, ys, color="#4c72b0")
        if numeric and xs and min(xs) > 0 and max(xs) / min(xs) >= 100:
            ax.set_xscale("log")
        ax.set_xlabel(name, fontsize=8)
        ax.set_ylabel(objective, fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)
