"""One inter-process lock for the data side's writers (DDP ranks, loader workers).

Generation of the synthetic set and manifest writing must happen once even when several
processes open the same dataset at the same moment; an advisory ``flock`` on a small
file next to what is written serialises them.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def file_lock(lock_file: Path, create: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file``; without a writable place for it (a
    read-only dataset, where nothing will be written anyway) run unlocked."""
    try:
        if create:
            lock_file.parent.mkdir(parents=True, exist_ok=True)
        fh = open(lock_file, "a")  # noqa: SIM115
    except OSError:
        yield
        return
    try:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()
