"""On-disk dataset formats, one module each, behind one small interface.

A format knows how to list a root directory as :class:`Record` objects, which class map
goes with it, and whether its labels are colour images or index masks. Adding a format
means adding a module here and one line to :data:`FORMATS`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from segtrain.data.classes import ClassMap
from segtrain.data.records import Record, ScanProblem
from segtrain.errors import ConfigError


@dataclass
class ScanResult:
    records: list[Record]
    problems: list[ScanProblem] = field(default_factory=list)
    # True when the format's own directory structure says which split a record is in
    has_given_splits: bool = False


class DatasetFormat(Protocol):
    name: str
    label_kind: str  # "color" (RGB labels, encoded with the class map) or "index"

    def scan(self, root: Path, cfg: Any) -> ScanResult: ...

    def class_map(self, root: Path, cfg: Any) -> ClassMap:
        """The dataset's own classes, before ``dataset.class_merges``."""
        ...

    def index_table(self, cfg: Any) -> np.ndarray | None:
        """For index formats: 256-entry int16 table raw value -> class index of
        :meth:`class_map`, ignore index, or -1 (unknown)."""
        ...


FORMATS: dict[str, str] = {
    "a2d2": "segtrain.data.formats.a2d2",
    "synthetic": "segtrain.data.formats.synthetic",
    "camvid": "segtrain.data.formats.camvid",
    "camvid_segnet": "segtrain.data.formats.camvid",
    "folder": "segtrain.data.formats.folder",
}


def get_format(name: str) -> DatasetFormat:
    try:
        module = importlib.import_module(FORMATS[name])
    except KeyError:
        raise ConfigError(
            f"dataset.format={name!r} is not known; expected one of {sorted(FORMATS)}"
        ) from None
    return module.get(name)
