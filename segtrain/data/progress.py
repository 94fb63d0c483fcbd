"""Progress reporting: a rich bar on a terminal, plain log lines elsewhere (SageMaker)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger("segtrain.data")


def track(
    items: Iterable[T], total: int, description: str, enabled: bool | None = None
) -> Iterator[T]:
    if enabled is None:
        enabled = sys.stderr.isatty()
    if enabled:
        from rich.progress import track as rich_track

        yield from rich_track(items, total=total, description=description, transient=False)
        return
    t0 = last = time.perf_counter()
    for n, item in enumerate(items, start=1):
        yield item
        now = time.perf_counter()
        if now - last > 10 or n == total:
            log.info("%s %d/%d (%.0f s)", description, n, total, now - t0)
            last = now
