"""Atomic checkpoint files and the resume policy.

A checkpoint is always written to a temporary file in the same directory and then
renamed over its final name (``os.replace`` is atomic on POSIX), so a run killed at any
moment leaves either the previous complete file or the new complete file, never half of
one. Temporary files left by a killed writer start with ``.tmp-`` and are ignored (and
cleaned up) by :func:`latest_checkpoint`.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

TMP_PREFIX = ".tmp-"
LAST_NAME = "last.ckpt"
_EPOCH_RE = re.compile(r"epoch[=_-]?(\d+)")


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None], suffix: str = "") -> Path:
    """Call ``write(tmp_path)`` then rename the result to ``path`` atomically.

    ``write`` receives a path in the destination directory (same filesystem, so the
    rename is atomic) and must create the file there. On any error the temporary file
    is removed and the previous ``path`` (if any) is left untouched. ``suffix`` ends the
    temporary name, for writers that insist on an extension (Keras: ``.weights.h5``).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=TMP_PREFIX + final.name + ".", suffix=suffix, dir=final.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:  # data on disk before the rename makes it visible
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def clean_partial(directory: str | os.PathLike) -> int:
    """Remove temporary files a killed writer left behind; returns how many."""
    d = Path(directory)
    if not d.is_dir():
        return 0
    removed = 0
    for stale in d.glob(TMP_PREFIX + "*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
        removed += 1
    return removed


def replace_directory(tmp: Path, final: Path) -> None:
    """Put the complete directory ``tmp`` at ``final`` (sharded checkpoints).

    Directories cannot be swapped in one atomic step: the old one is first renamed to a
    temporary name, so a kill in between leaves no ``final`` (resume then falls back to
    the next newest checkpoint), never a mixture of old and new shards.
    """
    old = final.with_name(f"{TMP_PREFIX}old-{final.name}")
    if final.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
    os.replace(tmp, final)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


def epoch_of(path: Path) -> int | None:
    m = _EPOCH_RE.search(path.name)
    return int(m.group(1)) if m else None


def latest_checkpoint(directory: str | os.PathLike, suffix: str = ".ckpt") -> Path | None:
    """The checkpoint to resume from: ``last.ckpt`` if present, else the newest file.

    Returns None for a missing or empty directory: a first run is not an error.
    """
    d = Path(directory)
    if not d.is_dir():
        return None
    if n := clean_partial(d):
        log.info("Removed %d incomplete checkpoint file(s) in %s", n, d)
    last = d / LAST_NAME
    if last.exists():  # a file, or a directory for sharded (FSDP) checkpoints
        return last
    candidates = list(d.glob(f"*{suffix}"))
    if not candidates:
        return None
    return max(candidates, key=lambda p: (p.stat().st_mtime, epoch_of(p) or -1))
