"""The one API both engines read data through: ``open_split(dataset_cfg, split)``.

It makes the dataset ready on first use (synthetic generation, manifest with leak-free
splits), then hands back a random-access, picklable :class:`SampleSource` of decoded,
encoded and resized samples: from the preprocessed cache (:mod:`segtrain.data.cache`)
when one matches the config, otherwise from the raw files (:mod:`segtrain.data.raw`).
This module sits above both readers and neither imports it. Engines never see file
formats, colour tables or paths; the names they use are importable from here.
"""

from __future__ import annotations

import logging
from typing import Any

from segtrain.data.cache import open_cached
from segtrain.data.catalog import build_catalog, image_size_of_cfg, split_records
from segtrain.data.dataset_classes import load_class_map, resolve_classes
from segtrain.data.manifest import cap_records
from segtrain.data.raw import RawSource, raw_source
from segtrain.data.records import Sample, SampleSource

__all__ = [
    "RawSource",
    "Sample",
    "SampleSource",
    "image_size_of_cfg",
    "load_class_map",
    "open_split",
]
log = logging.getLogger(__name__)


def open_split(dataset_cfg: Any, split: str) -> SampleSource:
    """Samples of one split, ready to index from any process."""
    catalog = build_catalog(dataset_cfg)
    records = cap_records(split_records(catalog, split), dataset_cfg.num_samples)
    classes = resolve_classes(dataset_cfg, catalog.root)
    size = image_size_of_cfg(dataset_cfg)
    cached = open_cached(dataset_cfg, catalog, records, classes.class_map, size)
    if cached is not None:
        log.info("%s split: %d samples from the cache %s", split, len(cached), cached.dir)
        return cached
    return raw_source(
        dataset_cfg, records, catalog.root, classes, on_error=str(dataset_cfg.on_error)
    )
