"""Side-by-side prediction panels: image | prediction overlay | ground truth, + legend."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from segtrain.runtime.checkpoints import atomic_write

PANEL_TITLE_HEIGHT = 24
LEGEND_ROW_HEIGHT = 22
VOID_COLOR = (0, 0, 0)


def colorize(
    mask: np.ndarray, colors: Sequence[tuple[int, int, int]], ignore_index: int
) -> np.ndarray:
    """Class-index mask -> RGB using the dataset's own class colours (void: black)."""
    palette = np.zeros((256, 3), np.uint8)
    palette[: len(colors)] = np.asarray(colors, np.uint8)
    if 0 <= ignore_index < 256:
        palette[ignore_index] = VOID_COLOR
    return palette[np.clip(mask, 0, 255).astype(np.uint8)]


def overlay(image: np.ndarray, color_mask: np.ndarray, alpha: float) -> np.ndarray:
    blended = image.astype(np.float32) * (1 - alpha) + color_mask.astype(np.float32) * alpha
    return blended.clip(0, 255).astype(np.uint8)


def _titled(panel: np.ndarray, title: str) -> np.ndarray:
    bar = np.full((PANEL_TITLE_HEIGHT, panel.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, title, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([bar, panel])


def legend(
    class_ids: Sequence[int],
    names: Sequence[str],
    colors: Sequence[tuple[int, int, int]],
    width: int,
) -> np.ndarray:
    """Colour swatches with class names, wrapped into rows of the panel width."""
    entries = [(names[i], tuple(int(c) for c in colors[i])) for i in class_ids if i < len(names)]
    cell = 190
    per_row = max(width // cell, 1)
    rows = max((len(entries) + per_row - 1) // per_row, 1)
    strip = np.full((rows * LEGEND_ROW_HEIGHT + 4, width, 3), 255, np.uint8)
    for k, (name, color) in enumerate(entries):
        r, c = divmod(k, per_row)
        x, y = c * cell + 6, r * LEGEND_ROW_HEIGHT + 4
        cv2.rectangle(strip, (x, y), (x + 16, y + 14), color, -1)
        cv2.rectangle(strip, (x, y), (x + 16, y + 14), (0, 0, 0), 1)
        cv2.putText(
            strip,
            name[:24],
            (x + 22, y + 12),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.42,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    return strip


def side_by_side(
    image: np.ndarray,
    prediction: np.ndarray,
    names: Sequence[str],
    colors: Sequence[tuple[int, int, int]],
    ignore_index: int,
    ground_truth: np.ndarray | None = None,
    alpha: float = 0.5,
) -> np.ndarray:
    pred_rgb = colorize(prediction, colors, ignore_index)
    panels = [_titled(image, "image"), _titled(overlay(image, pred_rgb, alpha), "prediction")]
    present = set(np.unique(prediction).tolist())
    if ground_truth is not None:
        gt_rgb = colorize(ground_truth, colors, ignore_index)
        panels.append(_titled(overlay(image, gt_rgb, alpha), "ground truth"))
        present |= set(np.unique(ground_truth).tolist())
    row = np.hstack(panels)
    ids = sorted(i for i in present if i != ignore_index)
    return np.vstack([row, legend(ids, names, colors, row.shape[1])])


def save_png(path: Path, rgb: np.ndarray) -> Path:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode {path}")
    return atomic_write(path, lambda tmp: tmp.write_bytes(buf.tobytes()))
