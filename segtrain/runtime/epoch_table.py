"""THE per-epoch metrics file of a training run: ``<run dir>/metrics.csv``, both engines.

One row per completed epoch, columns named as the metric line names them
(:mod:`segtrain.runtime.metric_log`): ``epoch``, ``train_loss``, ``val_loss``,
``val_mIoU``, ``val_pixel_acc``, ``val_mean_acc``, ``val_fwIoU``, ``lr``,
``throughput``, then ``val_IoU/<class>`` per class, then ``wall_time`` (Unix seconds
when the row was written; the report derives epoch durations from it).

Both engines' epoch-end callbacks call :func:`write_epoch_row` after the epoch's
checkpoint is saved (the same moment the metric line is printed), so every row belongs
to a checkpoint. The whole file is rewritten atomically each epoch and rows of the
written epoch and beyond are dropped first: a run resumed from an earlier checkpoint
(``previous`` after an unloadable ``last``, or ``resume=false`` starting over) replaces
the rows it trains again instead of repeating them. Framework-free.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Mapping
from pathlib import Path

from segtrain.runtime.checkpoints import atomic_write_text
from segtrain.runtime.metric_log import (
    EPOCH,
    PER_CLASS_IOU,
    STANDARD_METRICS,
    VAL_PREFIX,
)

#: the file name, in the run's output directory (``paths.output_dir``)
METRICS_CSV = "metrics.csv"
WALL_TIME = "wall_time"
#: fixed leading columns (present in every file, empty where a run has no value)
COLUMNS: tuple[str, ...] = STANDARD_METRICS
CLASS_IOU_PREFIX = VAL_PREFIX + PER_CLASS_IOU


def class_iou(scores: Mapping[str, float]) -> dict[str, float]:
    """The ``val_IoU/<class>`` entries of a validation's scores (the per-class columns)."""
    return {k: float(v) for k, v in scores.items() if k.startswith(CLASS_IOU_PREFIX)}


def read_epoch_rows(path: Path) -> list[dict[str, float]]:
    """The rows of a metrics file as numbers (missing or empty cells left out)."""
    if not Path(path).is_file():
        return []
    rows: list[dict[str, float]] = []
    with Path(path).open(newline="") as handle:
        for raw in csv.DictReader(handle):
            row = {k: float(v) for k, v in raw.items() if k is not None and v not in ("", None)}
            if EPOCH in row:
                rows.append(row)
    return rows


def _columns(rows: list[dict[str, float]]) -> list[str]:
    """The fixed columns, the per-class IoU columns in first-seen order, then the rest."""
    seen: dict[str, None] = {}
    for row in rows:
        seen.update(dict.fromkeys(row))
    per_class = [c for c in seen if c.startswith(CLASS_IOU_PREFIX)]
    rest = [c for c in seen if c not in COLUMNS and c not in per_class and c != WALL_TIME]
    return [*COLUMNS, *per_class, *rest, WALL_TIME]


def _cell(value: float | None) -> str:
    if value is None:
        return ""
    v = float(value)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)


def write_epoch_row(
    run_dir: Path, epoch: int, metrics: Mapping[str, float], now: float | None = None
) -> Path:
    """Record epoch ``epoch`` (1-based epochs completed) in ``<run_dir>/metrics.csv``.

    Rows of ``epoch`` and later are replaced (a resumed run trains them again); the
    file is rewritten atomically, so a reader never sees half a row.
    """
    path = Path(run_dir) / METRICS_CSV
    rows = [r for r in read_epoch_rows(path) if int(r[EPOCH]) < int(epoch)]
    row = {EPOCH: float(epoch), **{k: float(v) for k, v in metrics.items() if v is not None}}
    row[WALL_TIME] = time.time() if now is None else float(now)
    rows.append(row)
    columns = _columns(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow([_cell(r.get(c)) for c in columns])
    return atomic_write_text(path, out.getvalue())
