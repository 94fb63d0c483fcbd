"""The one metric line format, and the regexes SageMaker parses it with.

Both engines print every epoch's metrics through :func:`format_metric_line`; the
SageMaker launcher submits :func:`metric_definitions`, built from the same names and the
same number pattern, so what is printed is exactly what CloudWatch receives.

    [metrics] epoch=3 train_loss=0.41 val_loss=0.52 val_mIoU=0.613 throughput=41.2
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable, Mapping
from typing import TextIO

PREFIX = "[metrics]"
# floats as printed by format_metric_line: optional sign, digits, optional fraction and
# exponent; also nan/inf so a diverged run is still parsed rather than silently skipped.
NUMBER = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf)"
NAME = r"[A-Za-z_][A-Za-z0-9_./-]*"

# THE metric names. Engines, callbacks, tasks and the launcher import them from here.
EPOCH = "epoch"
TRAIN_LOSS = "train_loss"
LR = "lr"
THROUGHPUT = "throughput"
VAL_PREFIX = "val_"
VAL_LOSS = VAL_PREFIX + "loss"
#: the summary scores of a confusion matrix (:func:`segtrain.metrics.scores_from_confusion`)
MIOU, PIXEL_ACC, MEAN_ACC, FWIOU = "mIoU", "pixel_acc", "mean_acc", "fwIoU"
SCORES: tuple[str, ...] = (MIOU, PIXEL_ACC, MEAN_ACC, FWIOU)
#: per-class IoU entries are ``<prefix>IoU/<class name>``
PER_CLASS_IOU = "IoU/"
VAL_MIOU = VAL_PREFIX + MIOU
#: what a validation adds to an epoch's metric line: its loss, then every summary score
VAL_METRICS: tuple[str, ...] = (VAL_LOSS, *(VAL_PREFIX + s for s in SCORES))
#: the default objective of a run (``optimized_metric``) and the score ``best`` tracks
DEFAULT_OBJECTIVE = VAL_MIOU

#: Metrics every training run reports; the launcher registers a regex for each.
STANDARD_METRICS: tuple[str, ...] = (EPOCH, TRAIN_LOSS, *VAL_METRICS, LR, THROUGHPUT)

# SageMaker limits: 40 metric definitions per job, 500 characters per regex.
MAX_DEFINITIONS = 40
MAX_REGEX_LENGTH = 500


def progress_bar(setting: str, interactive: bool) -> bool:
    """``logger.progress_bar`` (auto/true/false): bars on a terminal, plain lines where
    the output is a log (SageMaker, CI, a pipe) unless asked for explicitly."""
    choice = str(setting).lower()
    return interactive if choice == "auto" else choice == "true"


def _format_value(value: float | int) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    v = float(value)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.6g}"


def format_metric_line(metrics: Mapping[str, float | int], epoch: int | None = None) -> str:
    """Render one line; ``epoch`` first, then the metrics in the order given."""
    parts = [PREFIX]
    if epoch is not None:
        parts.append(f"{EPOCH}={epoch}")
    for name, value in metrics.items():
        if name == EPOCH or value is None:
            continue
        if not re.fullmatch(NAME, name):
            raise ValueError(f"metric name {name!r} does not match {NAME}")
        parts.append(f"{name}={_format_value(value)}")
    return " ".join(parts)


def log_metrics(
    metrics: Mapping[str, float | int], epoch: int | None = None, stream: TextIO | None = None
) -> str:
    """Print the metric line (flushed, so SageMaker's log stream sees it at once)."""
    line = format_metric_line(metrics, epoch)
    out = stream or sys.stdout
    print(line, file=out, flush=True)
    return line


def metric_regex(name: str) -> str:
    """The regex that captures ``name``'s value from a metric line."""
    return rf"\[metrics\].*?\b{re.escape(name)}=({NUMBER})"


def metric_definitions(names: Iterable[str] = STANDARD_METRICS) -> list[dict[str, str]]:
    """SageMaker ``MetricDefinitions``: ``[{"Name": ..., "Regex": ...}, ...]``."""
    defs = [{"Name": n, "Regex": metric_regex(n)} for n in dict.fromkeys(names)]
    if len(defs) > MAX_DEFINITIONS:
        raise ValueError(f"{len(defs)} metric definitions; SageMaker accepts {MAX_DEFINITIONS}")
    for d in defs:
        if len(d["Regex"]) > MAX_REGEX_LENGTH:
            raise ValueError(f"regex for {d['Name']} exceeds {MAX_REGEX_LENGTH} characters")
    return defs


def parse_metric_lines(
    text: str, names: Iterable[str] = STANDARD_METRICS
) -> list[dict[str, float]]:
    """Parse every metric line in ``text`` with the SageMaker regexes (one dict per line)."""
    compiled = {n: re.compile(metric_regex(n)) for n in names}
    rows: list[dict[str, float]] = []
    for line in text.splitlines():
        if PREFIX not in line:
            continue
        row = {}
        for name, rx in compiled.items():
            m = rx.search(line)
            if m:
                row[name] = float(m.group(1))
        if row:
            rows.append(row)
    return rows
