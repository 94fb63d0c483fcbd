"""Preprocessed cache: samples already decoded, encoded and resized, in a few big shards.

Why: a real A2D2 frame is a 1920x1208 PNG plus a colour label PNG; decoding both,
encoding the label and resizing costs far more than the training step of a small model,
and 80k+ small files strain disks and S3 listings. The cache stores each shard as two
``.npy`` arrays (images ``(N, H, W, 3)`` and masks ``(N, H, W)``, uint8) that are
memory-mapped, so reading a sample is a slice copy.

Layout of ``<cache dir>`` (default ``<root>/.segtrain_cache/<H>x<W>``)::

    shard-00000.images.npy  shard-00000.masks.npy  shard-00000.json   (one per shard)
    cache.json                                                        (index, last)

A shard's ``.json`` is written after both arrays are complete (each through
:func:`~segtrain.runtime.checkpoints.atomic_write`), so an interrupted build keeps finished shards, rebuilds the unfinished one, and
a half-written shard is never read. ``cache.json`` says which image size, class map and
manifest the cache belongs to; a mismatch means the cache is not used.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from segtrain.data.catalog import Catalog, dataset_root
from segtrain.data.classes import ClassMap
from segtrain.data.progress import track
from segtrain.data.raw import raw_source
from segtrain.data.records import Record, Sample
from segtrain.errors import ConfigError, DataError
from segtrain.runtime.checkpoints import atomic_write, atomic_write_text

log = logging.getLogger(__name__)
CACHE_VERSION = 1
INDEX = "cache.json"


def cache_dir(dataset_cfg: Any, size: tuple[int, int]) -> Path:
    explicit = dataset_cfg.cache.dir
    if explicit:
        return Path(str(explicit))
    return dataset_root(dataset_cfg) / ".segtrain_cache" / f"{size[0]}x{size[1]}"


@dataclass
class CacheSummary:
    dir: Path
    shards: int
    built: int
    reused: int
    samples: int
    skipped: list[str]
    unknown_pixels: int
    seconds: float
    bytes: int


def _shard_name(i: int) -> str:
    return f"shard-{i:05d}"


def _save_npy(path: Path, arr: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a handle: np.save would append ".npy" to a name
            np.save(fh, arr)

    atomic_write(path, write)


def _build_shard(args: tuple) -> dict:
    """Worker: decode + encode + resize one shard's records and write it."""
    out_dir, name, dataset_cfg_dict, root, records, policy = args
    from omegaconf import OmegaConf

    cfg = OmegaConf.create(dataset_cfg_dict)
    src = raw_source(cfg, records, Path(root))
    h, w = src.image_size
    images = np.zeros((len(records), h, w, 3), np.uint8)
    masks = np.full((len(records), h, w), src.class_map.ignore_index, np.uint8)
    ok, has_mask, bad, unknown = [], [], [], 0
    for rec in records:
        try:
            sample_img, mask, n_unk = src.load(rec)
        except DataError as exc:
            if policy == "skip":
                bad.append(f"{rec.id}: {exc}")
                continue
            raise
        k = len(ok)
        images[k] = sample_img
        if mask is not None:
            masks[k] = mask
        ok.append(rec.id)
        has_mask.append(mask is not None)
        unknown += n_unk
    out = Path(out_dir)
    _save_npy(out / f"{name}.images.npy", images[: len(ok)])
    _save_npy(out / f"{name}.masks.npy", masks[: len(ok)])
    meta = {
        "ids": ok,
        "has_mask": has_mask,
        "bad": bad,
        "unknown_pixels": unknown,
        "want": [r.id for r in records],
    }
    atomic_write_text(out / f"{name}.json", json.dumps(meta))
    return {"name": name, **meta}


def build_cache(
    dataset_cfg: Any,
    catalog: Catalog,
    size: tuple[int, int],
    class_map: ClassMap,
    progress: bool | None = None,
) -> CacheSummary:
    """Build (or finish building) the cache of every record in the catalog."""
    from omegaconf import OmegaConf

    t0 = time.perf_counter()
    out = cache_dir(dataset_cfg, size)
    out.mkdir(parents=True, exist_ok=True)
    shard_size = int(dataset_cfg.cache.shard_size)
    workers = max(1, int(dataset_cfg.cache.workers))
    if shard_size < 1:
        raise ConfigError(f"dataset.cache.shard_size={shard_size}; expected >= 1")
    records = sorted(catalog.records, key=lambda r: r.id)
    chunks = [records[i : i + shard_size] for i in range(0, len(records), shard_size)]
    (out / INDEX).unlink(missing_ok=True)  # the index is rewritten once all shards exist
    done, todo = _plan_shards(out, chunks)
    reused = len(done)
    cfg_dict = (
        OmegaConf.to_container(OmegaConf.create(dataset_cfg), resolve=True)
        if not isinstance(dataset_cfg, dict)
        else dataset_cfg
    )
    policy = str(dataset_cfg.on_error)
    jobs = [(str(out), name, cfg_dict, str(catalog.root), chunk, policy) for name, chunk in todo]
    if jobs:
        log.info(
            "building cache %s: %d shard(s) to write, %d already complete, %d worker(s)",
            out,
            len(jobs),
            reused,
            workers,
        )
        for res in _run_shard_jobs(jobs, workers, progress):
            done[res["name"]] = res
    shards = [done[_shard_name(i)] for i in range(len(chunks))]
    index = {
        "version": CACHE_VERSION,
        "image_size": list(size),
        "class_map": class_map.fingerprint(),
        "class_names": class_map.names,
        "format": str(dataset_cfg.format),
        "shards": [{"name": s["name"], "ids": s["ids"], "has_mask": s["has_mask"]} for s in shards],
        "bad": [b for s in shards for b in s["bad"]],
        "unknown_pixels": int(sum(s["unknown_pixels"] for s in shards)),
    }
    atomic_write_text(out / INDEX, json.dumps(index))
    size_bytes = sum(p.stat().st_size for p in out.glob("shard-*.npy"))
    return CacheSummary(
        out,
        len(chunks),
        len(jobs),
        reused,
        sum(len(s["ids"]) for s in shards),
        index["bad"],
        index["unknown_pixels"],
        time.perf_counter() - t0,
        size_bytes,
    )


def _plan_shards(
    out: Path, chunks: list[list[Record]]
) -> tuple[dict[str, dict], list[tuple[str, list[Record]]]]:
    """(complete shards to reuse, shards to write); shards left over from an older,
    longer manifest are removed."""
    done: dict[str, dict] = {}
    todo = []
    for i, chunk in enumerate(chunks):
        name = _shard_name(i)
        meta = _read_shard_meta(out, name)
        if meta is not None and meta.get("want") == [r.id for r in chunk]:
            done[name] = {"name": name, **meta}
        else:
            todo.append((name, chunk))
    wanted = {_shard_name(i) for i in range(len(chunks))}
    for stale in out.glob("shard-*.json"):
        if stale.stem not in wanted:
            for p in out.glob(f"{stale.stem}.*"):
                p.unlink()
    return done, todo


def _run_shard_jobs(jobs: list[tuple], workers: int, progress: bool | None) -> Iterator[dict]:
    """Each shard's result as it finishes: in this process, or in a pool of workers."""
    if workers == 1 or len(jobs) == 1:
        yield from track((_build_shard(j) for j in jobs), len(jobs), "caching shards", progress)
        return
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        futs = [pool.submit(_build_shard, j) for j in jobs]
        for fut in track(as_completed(futs), len(futs), "caching shards", progress):
            yield fut.result()


def _read_shard_meta(out: Path, name: str) -> dict | None:
    try:
        meta = json.loads((out / f"{name}.json").read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not ((out / f"{name}.images.npy").is_file() and (out / f"{name}.masks.npy").is_file()):
        return None
    return meta


def read_index(out: Path) -> dict | None:
    try:
        return json.loads((out / INDEX).read_text())
    except (FileNotFoundError, ValueError):
        return None


class CacheSource:
    """Samples from memory-mapped shards; picklable (maps are reopened per process)."""

    def __init__(
        self, dir: Path, class_map: ClassMap, ids: list[str], where: list[tuple[str, int, bool]]
    ) -> None:
        self.dir = Path(dir)
        self.class_map = class_map
        self.ids = ids
        self._where = where
        self._maps: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_maps"] = {}
        return state

    def __len__(self) -> int:
        return len(self.ids)

    def _arrays(self, shard: str) -> tuple[np.ndarray, np.ndarray]:
        arrs = self._maps.get(shard)
        if arrs is None:
            arrs = (
                np.load(self.dir / f"{shard}.images.npy", mmap_mode="r"),
                np.load(self.dir / f"{shard}.masks.npy", mmap_mode="r"),
            )
            self._maps[shard] = arrs
        return arrs

    def __getitem__(self, i: int) -> Sample:
        shard, k, has_mask = self._where[i]
        images, masks = self._arrays(shard)
        return Sample(self.ids[i], np.array(images[k]), np.array(masks[k]) if has_mask else None)


def open_cached(
    dataset_cfg: Any,
    catalog: Catalog,
    records: list[Record],
    class_map: ClassMap,
    size: tuple[int, int],
) -> CacheSource | None:
    """A cache-backed source for ``records`` when a matching, complete cache exists."""
    out = cache_dir(dataset_cfg, size)
    index = read_index(out)
    if index is None:
        return None
    if index.get("version") != CACHE_VERSION or list(index.get("image_size", [])) != list(size):
        log.info("cache %s is for another image size/version; reading raw files", out)
        return None
    if index.get("class_map") != class_map.fingerprint():
        log.info(
            "cache %s was built with another class map; reading raw files "
            "(rebuild with `segtrain data prepare ... dataset.cache.enabled=true`)",
            out,
        )
        return None
    loc: dict[str, tuple[str, int, bool]] = {}
    for shard in index["shards"]:
        for k, (sid, hm) in enumerate(zip(shard["ids"], shard["has_mask"], strict=True)):
            loc[sid] = (shard["name"], k, hm)
    bad = {b.split(":", 1)[0] for b in index.get("bad", [])}
    keep = [r for r in records if r.id not in bad]
    missing = [r.id for r in keep if r.id not in loc]
    if missing:
        log.info(
            "cache %s lacks %d sample(s) of this split (e.g. %s); reading raw files",
            out,
            len(missing),
            missing[0],
        )
        return None
    if len(keep) < len(records):
        log.warning(
            "%d sample(s) left out: they failed when the cache was built", len(records) - len(keep)
        )
    return CacheSource(out, class_map, [r.id for r in keep], [loc[r.id] for r in keep])
