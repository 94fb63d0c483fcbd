"""Preprocessed cache: same samples as raw, resumable, never reads half-written shards."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from segtrain.data.cache import CacheSource, build_cache, cache_dir
from segtrain.data.catalog import build_catalog
from segtrain.data.source import RawSource, load_class_map, open_split


@pytest.fixture
def cached(tiny_synth):
    tiny_synth.cache.shard_size = 5
    tiny_synth.cache.workers = 1
    cat = build_catalog(tiny_synth)
    summary = build_cache(tiny_synth, cat, (64, 96), load_class_map(tiny_synth), progress=False)
    return tiny_synth, cat, summary


def test_cache_holds_exactly_what_raw_reading_gives(cached):
    cfg, _, summary = cached
    assert (summary.shards, summary.samples, summary.built) == (3, 12, 3)
    src = open_split(cfg, "train")
    assert isinstance(src, CacheSource)
    d = Path(summary.dir)
    (d / "cache.json").rename(d / "off.json")
    raw = open_split(cfg, "train")
    assert isinstance(raw, RawSource) and raw.ids == src.ids
    for i in range(len(src)):
        assert np.array_equal(src[i].image, raw[i].image)
        assert np.array_equal(src[i].mask, raw[i].mask)


def test_cache_source_pickles(cached):
    import pickle

    src = open_split(cached[0], "val")
    src[0]  # opens memory maps, which must not travel
    clone = pickle.loads(pickle.dumps(src))
    assert np.array_equal(clone[1].mask, src[1].mask)


def test_rebuild_keeps_finished_shards_and_redoes_a_half_written_one(cached):
    cfg, cat, summary = cached
    d = Path(summary.dir)
    (d / "shard-00001.json").unlink()  # interrupted after the arrays, before the marker
    (d / "shard-00002.masks.npy").unlink()  # interrupted mid-shard
    again = build_cache(cfg, cat, (64, 96), load_class_map(cfg), progress=False)
    assert (again.reused, again.built) == (1, 2)
    assert isinstance(open_split(cfg, "val"), CacheSource)


def test_incomplete_cache_is_not_read(cached):
    cfg, _, summary = cached
    (Path(summary.dir) / "cache.json").unlink()  # index is written last
    assert isinstance(open_split(cfg, "train"), RawSource)


def test_cache_for_another_size_or_class_map_is_ignored(cached):
    cfg, _, summary = cached
    cfg.image_size = [32, 48]
    assert isinstance(open_split(cfg, "train"), RawSource)
    cfg.image_size = [64, 96]
    idx = json.loads((Path(summary.dir) / "cache.json").read_text())
    idx["class_map"] = "0000"
    (Path(summary.dir) / "cache.json").write_text(json.dumps(idx))
    assert isinstance(open_split(cfg, "train"), RawSource)


def test_cache_dir_default_is_per_size(tiny_synth):
    assert cache_dir(tiny_synth, (64, 96)).parts[-2:] == (".segtrain_cache", "64x96")


def test_corrupt_frame_is_skipped_and_counted_when_asked(tiny_synth):
    cat = build_catalog(tiny_synth)
    victim = cat.records[3]
    p = cat.root / victim.image
    data = bytearray(p.read_bytes())
    data[60:400] = b"\x00" * 340  # corrupt the data, keep header and IEND intact
    p.write_bytes(bytes(data))
    tiny_synth.on_error = "skip"
    tiny_synth.cache.workers = 2
    s = build_cache(tiny_synth, cat, (64, 96), load_class_map(tiny_synth), progress=False)
    assert len(s.skipped) == 1 and s.skipped[0].startswith(victim.id)
    ids = open_split(tiny_synth, victim.split).ids
    assert victim.id not in ids
