"""Segmentation metrics from one confusion matrix.

Everything is computed from a confusion matrix accumulated over a whole split (and,
under data parallelism, *summed* across ranks before any score is computed: averaging
per-rank mIoU is wrong whenever ranks see different class mixes). Framework-free.

Conventions (DESIGN.md §4): rows are ground truth, columns are predictions; the ignore
index is never a class; a class absent from both prediction and ground truth has IoU
NaN and is left out of the means.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from segtrain.runtime.metric_log import FWIOU, MEAN_ACC, MIOU, PER_CLASS_IOU, PIXEL_ACC, SCORES


def confusion_matrix(
    target: np.ndarray, pred: np.ndarray, num_classes: int, ignore_index: int | None = 255
) -> np.ndarray:
    """``num_classes x num_classes`` counts (int64) of (target, prediction) pairs.

    Pixels whose target is ``ignore_index`` or outside ``[0, num_classes)`` are dropped.
    """
    target = np.asarray(target).reshape(-1).astype(np.int64, copy=False)
    pred = np.asarray(pred).reshape(-1).astype(np.int64, copy=False)
    if target.shape != pred.shape:
        raise ValueError(f"target has {target.size} pixels, prediction {pred.size}")
    keep = (target >= 0) & (target < num_classes)
    if ignore_index is not None:
        keep &= target != ignore_index
    target, pred = target[keep], pred[keep]
    if pred.size and (pred.min() < 0 or pred.max() >= num_classes):
        raise ValueError(f"prediction holds a class outside [0, {num_classes})")
    flat = np.bincount(target * num_classes + pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


@dataclass(frozen=True)
class SegmentationScores:
    pixel_acc: float
    mean_acc: float
    mIoU: float
    fwIoU: float
    iou: np.ndarray  # per class, NaN where the class is absent from target and prediction
    acc: np.ndarray  # per-class recall, NaN where the class is absent from the target

    def summary(self) -> dict[str, float]:
        """The summary scores by their metric names (:data:`metric_log.SCORES` order)."""
        values = {
            MIOU: self.mIoU,
            PIXEL_ACC: self.pixel_acc,
            MEAN_ACC: self.mean_acc,
            FWIOU: self.fwIoU,
        }
        return {name: values[name] for name in SCORES}

    def as_dict(self, prefix: str = "", class_names: Sequence[str] | None = None) -> dict:
        """Flat dict (``{prefix}mIoU`` ...), per-class IoU as ``{prefix}IoU/<name>``."""
        out: dict[str, float] = {f"{prefix}{k}": v for k, v in self.summary().items()}
        names = class_names or [str(i) for i in range(len(self.iou))]
        for name, value in zip(names, self.iou, strict=True):
            out[f"{prefix}{PER_CLASS_IOU}{name}"] = float(value)
        return out


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")


def scores_from_confusion(cm: np.ndarray) -> SegmentationScores:
    """All scores from a confusion matrix (rows: ground truth, columns: prediction)."""
    cm = np.asarray(cm, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion matrix must be square, got shape {cm.shape}")
    tp = np.diag(cm)
    gt = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    union = gt + predicted - tp
    total = cm.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, tp / union, np.nan)
        acc = np.where(gt > 0, tp / gt, np.nan)
    pixel_acc = float(tp.sum() / total) if total else float("nan")
    freq = gt / total if total else np.zeros_like(gt)
    present = ~np.isnan(iou)
    fw = float((freq[present] * iou[present]).sum()) if total else float("nan")
    return SegmentationScores(
        pixel_acc=pixel_acc,
        mean_acc=_nanmean(acc),
        mIoU=_nanmean(iou),
        fwIoU=fw,
        iou=iou,
        acc=acc,
    )


def format_iou_table(scores: SegmentationScores, class_names: Sequence[str]) -> str:
    """A plain-text per-class table (IoU, accuracy) followed by the summary scores."""
    width = max([len(n) for n in class_names] + [5])
    lines = [f"{'class':<{width}}  {'IoU':>7}  {'acc':>7}"]
    for name, iou, acc in zip(class_names, scores.iou, scores.acc, strict=True):
        lines.append(f"{name:<{width}}  {_pct(iou):>7}  {_pct(acc):>7}")
    lines.append("-" * (width + 18))
    lines.append(f"{MIOU:<{width}}  {_pct(scores.mIoU):>7}")
    lines.append(f"{'pixel acc':<{width}}  {_pct(scores.pixel_acc):>7}")
    lines.append(f"{'mean acc':<{width}}  {_pct(scores.mean_acc):>7}")
    lines.append(f"{FWIOU:<{width}}  {_pct(scores.fwIoU):>7}")
    return "\n".join(lines)


def _pct(value: float) -> str:
    return "n/a" if np.isnan(value) else f"{100 * value:.2f}"
