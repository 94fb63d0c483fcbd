"""Which classes a configured dataset has, after ``dataset.class_merges``.

The format supplies its own class map (and, for index-mask formats, the table raw pixel
value -> class); merges then fold classes together. Both readers and the commands need
the same answer, so it is worked out here, once, below them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segtrain.data.catalog import dataset_root
from segtrain.data.classes import ClassMap, apply_merges
from segtrain.data.formats import get_format


@dataclass
class Classes:
    """The class map after merges and, for index-mask formats, the raw-value table that
    leads to it (raw value -> original class -> merged class)."""

    class_map: ClassMap
    label_kind: str
    index_table: np.ndarray | None


def _remap_index_table(table: np.ndarray, base: ClassMap, merged: ClassMap) -> np.ndarray:
    """Raw value -> original class becomes raw value -> merged class (matched by colour)."""
    colors = merged.color_table()
    new = table.copy()
    for v in range(256):
        if 0 <= table[v] < base.num_classes:
            new[v] = colors.get(base.colors[table[v]], merged.ignore_index)
        elif table[v] == base.ignore_index:
            new[v] = merged.ignore_index
    return new


def resolve_classes(dataset_cfg: Any, root: Path | None = None) -> Classes:
    fmt = get_format(str(dataset_cfg.format))
    root = dataset_root(dataset_cfg) if root is None else root
    base = fmt.class_map(root, dataset_cfg)
    merged = apply_merges(base, dataset_cfg.class_merges)
    table = fmt.index_table(dataset_cfg)
    if table is not None and merged is not base:
        table = _remap_index_table(table, base, merged)
    return Classes(merged, fmt.label_kind, table)


def load_class_map(dataset_cfg: Any) -> ClassMap:
    """The class map of the configured dataset (merges applied), without scanning it."""
    return resolve_classes(dataset_cfg).class_map
