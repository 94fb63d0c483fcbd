"""The one API both engines read data through: ``open_split(dataset_cfg, split)``.

It makes the dataset ready on first use (synthetic generation, manifest with leak-free
splits), then hands back a random-access, picklable :class:`SampleSource` of decoded,
encoded and resized samples: from the preprocessed cache when one matches the config,
otherwise from the raw files. Engines never see file formats, colour tables or paths.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from segtrain.data.catalog import build_catalog, dataset_root, split_records
from segtrain.data.classes import ClassMap, apply_merges
from segtrain.data.encode import (
    encode_color_label,
    encode_index_label,
    resize_image,
    resize_mask,
)
from segtrain.data.formats import get_format
from segtrain.data.io import read_color_label, read_image, read_index_label
from segtrain.data.manifest import cap_records
from segtrain.data.records import Record
from segtrain.errors import ConfigError, DataError

log = logging.getLogger(__name__)


@dataclass
class Sample:
    id: str  # unique, includes the camera for A2D2
    image: np.ndarray  # uint8 RGB (H, W, 3) at dataset.image_size
    mask: np.ndarray | None  # uint8 class indices (H, W); ignore_index for void; None if unlabelled


@runtime_checkable
class SampleSource(Protocol):
    class_map: ClassMap
    ids: list[str]

    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> Sample: ...


def image_size_of_cfg(dataset_cfg: Any) -> tuple[int, int]:
    size = list(dataset_cfg.image_size)
    if len(size) != 2 or min(int(v) for v in size) < 8:
        raise ConfigError(f"dataset.image_size={size}; expected [height, width], each >= 8")
    return int(size[0]), int(size[1])


class RawSource:
    """Decodes the original files on every access (resize, encode)."""

    def __init__(
        self,
        root: Path,
        records: Sequence[Record],
        class_map: ClassMap,
        label_kind: str,
        index_table: np.ndarray | None,
        image_size: tuple[int, int],
        unknown_colors: str = "ignore",
        on_error: str = "error",
    ) -> None:
        self.root = Path(root)
        self.records = list(records)
        self.class_map = class_map
        self.label_kind = label_kind
        self.index_table = index_table
        self.image_size = image_size
        self.unknown_colors = unknown_colors
        self.on_error = on_error
        self.ids = [r.id for r in self.records]
        self.skipped: set[str] = set()  # per process: samples that failed to decode

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> Sample:
        """The sample; under ``dataset.on_error=skip`` a sample that fails to decode (a
        corrupt file the cheap manifest checks could not see) is replaced by the next
        readable one and counted in ``skipped``, so one bad file cannot end a long run."""
        n = len(self.records)
        for k in range(min(n, 16) if self.on_error == "skip" else 1):
            rec = self.records[(i + k) % n]
            try:
                image, mask, _ = self.load(rec)
                return Sample(rec.id, image, mask)
            except DataError as exc:
                if self.on_error != "skip":
                    raise
                if rec.id not in self.skipped:
                    self.skipped.add(rec.id)
                    log.warning(
                        "skipping %s (dataset.on_error=skip; %d skipped so far): %s",
                        rec.id,
                        len(self.skipped),
                        exc,
                    )
        raise DataError(
            f"16 consecutive samples from {self.records[i].id} failed to decode; "
            "is the dataset readable?"
        )

    def load(self, rec: Record) -> tuple[np.ndarray, np.ndarray | None, int]:
        """(resized image, encoded resized mask or None, unknown-colour pixel count)."""
        image = read_image(self.root / rec.image)
        mask, unknown = None, 0
        if rec.label:
            mask, unknown = self.read_label(rec, image.shape[:2])
        return resize_image(image, self.image_size), mask, unknown

    def read_label(
        self, rec: Record, image_hw: tuple[int, int] | None = None, resize: bool = True
    ) -> tuple[np.ndarray, int]:
        """(class-index mask, number of unknown-colour pixels) for one record."""
        path = self.root / rec.label
        raw = read_color_label(path) if self.label_kind == "color" else read_index_label(path)
        if image_hw is not None and raw.shape[:2] != tuple(image_hw):
            raise DataError(
                f"{path}: label is {raw.shape[1]}x{raw.shape[0]} but its image "
                f"{self.root / rec.image} is {image_hw[1]}x{image_hw[0]}; they must match"
            )
        if resize:
            raw = resize_mask(raw, self.image_size)  # nearest: exact before encoding
        if self.label_kind == "color":
            res = encode_color_label(raw, self.class_map, self.unknown_colors, str(path))
        else:
            res = encode_index_label(
                raw, self.index_table, self.class_map.ignore_index, self.unknown_colors, str(path)
            )
        return res.mask, res.unknown_pixels


@dataclass
class Classes:
    """The class map after merges and, for index-mask formats, the raw-value table that
    leads to it (raw value -> original class -> merged class)."""

    class_map: ClassMap
    label_kind: str
    index_table: np.ndarray | None


def resolve_classes(dataset_cfg: Any, root: Path | None = None) -> Classes:
    fmt = get_format(str(dataset_cfg.format))
    root = dataset_root(dataset_cfg) if root is None else root
    base = fmt.class_map(root, dataset_cfg)
    merged = apply_merges(base, getattr(dataset_cfg, "class_merges", None))
    table = fmt.index_table(dataset_cfg)
    if table is not None and merged is not base:
        colors = merged.color_table()
        new = table.copy()
        for v in range(256):
            if 0 <= table[v] < base.num_classes:
                new[v] = colors.get(base.colors[table[v]], merged.ignore_index)
            elif table[v] == base.ignore_index:
                new[v] = merged.ignore_index
        table = new
    return Classes(merged, fmt.label_kind, table)


def load_class_map(dataset_cfg: Any) -> ClassMap:
    """The class map of the configured dataset (merges applied), without scanning it."""
    return resolve_classes(dataset_cfg).class_map


def open_split(dataset_cfg: Any, split: str) -> SampleSource:
    """Samples of one split, ready to index from any process."""
    catalog = build_catalog(dataset_cfg)
    records = cap_records(split_records(catalog, split), dataset_cfg.num_samples)
    classes = resolve_classes(dataset_cfg, catalog.root)
    size = image_size_of_cfg(dataset_cfg)
    from segtrain.data.cache import open_cached

    cached = open_cached(dataset_cfg, catalog, records, classes.class_map, size)
    if cached is not None:
        log.info("%s split: %d samples from the cache %s", split, len(cached), cached.dir)
        return cached
    return RawSource(
        catalog.root,
        records,
        classes.class_map,
        classes.label_kind,
        classes.index_table,
        size,
        str(dataset_cfg.unknown_colors),
        str(dataset_cfg.on_error),
    )


def raw_source(dataset_cfg: Any, records: Sequence[Record], root: Path) -> RawSource:
    """A raw-file source over given records (cache building, inspection, benchmarks)."""
    classes = resolve_classes(dataset_cfg, root)
    return RawSource(
        root,
        records,
        classes.class_map,
        classes.label_kind,
        classes.index_table,
        image_size_of_cfg(dataset_cfg),
        str(dataset_cfg.unknown_colors),
    )
