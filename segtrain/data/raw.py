"""The raw reader: decodes the original files on every access (read, encode, resize).

Used when no matching cache exists, and by the cache builder itself (a cache shard is
just this reader's output written down). It knows nothing about caches or about how a
split is chosen: :func:`segtrain.data.source.open_split` sits above it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from segtrain.data.catalog import image_size_of_cfg
from segtrain.data.classes import ClassMap
from segtrain.data.dataset_classes import Classes, resolve_classes
from segtrain.data.encode import (
    encode_color_label,
    encode_index_label,
    resize_image,
    resize_mask,
)
from segtrain.data.io import read_color_label, read_image, read_index_label
from segtrain.data.records import Record, Sample
from segtrain.errors import DataError

log = logging.getLogger(__name__)
#: under ``dataset.on_error=skip``, how many neighbours to try before giving up
MAX_CONSECUTIVE_FAILURES = 16


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
        tries = min(n, MAX_CONSECUTIVE_FAILURES) if self.on_error == "skip" else 1
        for k in range(tries):
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
            f"{MAX_CONSECUTIVE_FAILURES} consecutive samples from {self.records[i].id} "
            "failed to decode; is the dataset readable?"
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
        """(class-index mask, number of unknown-colour pixels) for one record.

        The label is encoded at its native resolution, so the unknown-colour count is
        that of the file (a count after resizing reports a fraction of the real pixels);
        the encoded mask is then resized with nearest neighbour, which gives exactly the
        mask that encoding a nearest-resized label would.
        """
        path = self.root / rec.label
        raw = read_color_label(path) if self.label_kind == "color" else read_index_label(path)
        if image_hw is not None and raw.shape[:2] != tuple(image_hw):
            raise DataError(
                f"{path}: label is {raw.shape[1]}x{raw.shape[0]} but its image "
                f"{self.root / rec.image} is {image_hw[1]}x{image_hw[0]}; they must match"
            )
        if self.label_kind == "color":
            res = encode_color_label(raw, self.class_map, self.unknown_colors, str(path))
        else:
            res = encode_index_label(
                raw, self.index_table, self.class_map.ignore_index, self.unknown_colors, str(path)
            )
        mask = resize_mask(res.mask, self.image_size) if resize else res.mask
        return mask, res.unknown_pixels


def raw_source(
    dataset_cfg: Any,
    records: Sequence[Record],
    root: Path,
    classes: Classes | None = None,
    on_error: str = "error",
) -> RawSource:
    """A raw-file source over given records. ``open_split`` passes the classes it already
    resolved and the dataset's ``on_error``; cache building, inspection and benchmarks
    leave ``on_error="error"`` (they apply the policy themselves, per record)."""
    if classes is None:
        classes = resolve_classes(dataset_cfg, root)
    return RawSource(
        root,
        records,
        classes.class_map,
        classes.label_kind,
        classes.index_table,
        image_size_of_cfg(dataset_cfg),
        str(dataset_cfg.unknown_colors),
        on_error,
    )
