"""Data benchmark on the real A2D2 frames: ratios measured within one run.

(a) label encoding: the vectorised lookup (``encode_color_label``) against the original
    notebook's approach, a Python loop over the 55 class colours comparing
    ``label == rgb`` per class, on the same decoded full-resolution labels; outputs are
    checked to be identical.
(b) one epoch of loading + augmenting at the training resolution (604x960 by default)
    from the preprocessed cache against from the raw PNGs (decode, resize, encode).

Each timing is the best of ``data_bench.repeats`` runs (the slow loop baseline: one run); absolute seconds depend on the
machine, the ratios are what the README reports. Run with ``segtrain bench
suites=[data]`` or ``segtrain data bench``.
"""

from __future__ import annotations

import json
import logging
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from segtrain._configs import config_dir
from segtrain.config import DatasetConfig
from segtrain.data.cache import build_cache
from segtrain.data.catalog import build_catalog
from segtrain.data.classes import ClassMap
from segtrain.data.encode import encode_color_label, encode_loop_baseline
from segtrain.data.io import read_color_label
from segtrain.data.source import load_class_map, open_split
from segtrain.data.transforms import augment_settings, build_transform
from segtrain.errors import DataError
from segtrain.runtime.checkpoints import atomic_write_text

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]
#: the augment group the loading epochs use, as ``segtrain train`` would by default
AUGMENT_PRESET = "default"


def augment_preset(name: str = AUGMENT_PRESET) -> Any:
    """The values of ``configs/augment/<name>.yaml`` over the schema, read from the file
    itself so the benchmark measures what training uses and repeats no setting."""
    preset = OmegaConf.load(config_dir() / "augment" / f"{name}.yaml")
    preset.pop("defaults", None)
    return augment_settings(preset)


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def a2d2_root(bcfg: Any) -> Path:
    root = (
        Path(str(bcfg.root))
        if bcfg.root
        else (REPO_ROOT / ".." / "shared" / "data" / "a2d2-sample").resolve()
    )
    if not root.is_dir():
        raise DataError(
            f"data benchmark: no A2D2 frames at {root}; set data_bench.root=<A2D2 root with "
            "camera_lidar_semantic/>"
        )
    return root


def _bench_dataset(root: Path, size: tuple[int, int], work: Path) -> Any:
    """Every frame of ``root`` in one train split, manifest and cache under ``work``."""
    ds = OmegaConf.structured(
        DatasetConfig(
            name="a2d2",
            format="a2d2",
            root=str(root),
            image_size=list(size),
            manifest=str(work / "manifest.jsonl"),
        )
    )
    ds.split.val_fraction = 0.0  # one epoch over every frame
    ds.split.by = "frame"
    ds.cache.dir = str(work / "cache")
    ds.cache.workers = 1
    return ds


def _time_encoding(labels: list[np.ndarray], cmap: ClassMap, repeats: int) -> tuple[float, float]:
    """(notebook loop seconds, lookup-table seconds) on the same decoded labels, after
    checking that both give identical masks."""
    for lab in labels:
        if not np.array_equal(encode_color_label(lab, cmap).mask, encode_loop_baseline(lab, cmap)):
            raise AssertionError("vectorised encoding differs from the loop baseline")
    # the loop is the slow side (seconds per label): once is enough and keeps it short
    t_loop = _best(lambda: [encode_loop_baseline(lab, cmap) for lab in labels], 1)
    t_lut = _best(lambda: [encode_color_label(lab, cmap) for lab in labels], repeats)
    return t_loop, t_lut


def _time_epochs(ds: Any, cat: Any, size: tuple[int, int], cmap: ClassMap, repeats: int) -> dict:
    """Load + augment (and load only) epochs from the raw PNGs, then from the cache."""
    transform = build_transform(augment_preset(), size, train=True, ignore_index=cmap.ignore_index)
    transform.reseed(0)

    def epoch(src) -> None:
        for i in range(len(src)):
            s = src[i]
            transform(s.image, s.mask)

    raw = open_split(ds, "train")
    t_raw = _best(lambda: epoch(raw), repeats)
    t0 = time.perf_counter()
    summary = build_cache(ds, cat, size, cmap, progress=False)
    t_build = time.perf_counter() - t0
    cached = open_split(ds, "train")
    if type(cached).__name__ != "CacheSource":
        raise AssertionError("the cache was not picked up by open_split")
    return {
        "raw": t_raw,
        "cache": _best(lambda: epoch(cached), repeats),
        "cache_load": _best(lambda: [cached[i] for i in range(len(cached))], repeats),
        "raw_load": _best(lambda: [raw[i] for i in range(len(raw))], repeats),
        "build": t_build,
        "bytes": summary.bytes,
    }


def _row(measurement: str, baseline: str, baseline_s: float, segtrain_s: float) -> dict:
    return {
        "measurement": measurement,
        "baseline": baseline,
        "baseline_s": round(baseline_s, 3),
        "segtrain_s": round(segtrain_s, 3),
        "speedup": f"{baseline_s / segtrain_s:.1f}x",
    }


def run_data_bench(cfg: Any) -> dict:
    """Both measurements; returns ``{"suite": "data", "rows": [...], ...}``."""
    bcfg = cfg.data_bench
    root = a2d2_root(bcfg)
    repeats = int(bcfg.repeats)
    size = (int(bcfg.image_size[0]), int(bcfg.image_size[1]))
    with tempfile.TemporaryDirectory(prefix="segtrain-bench-") as tmp:
        work = Path(str(bcfg.work_dir)) if bcfg.work_dir else Path(tmp)
        ds = _bench_dataset(root, size, work)
        cat = build_catalog(ds, force=True)
        cmap = load_class_map(ds)
        n = len(cat.records)
        # (a) label encoding on decoded full-resolution labels
        labels = [read_color_label(cat.root / r.label) for r in cat.records]
        t_loop, t_lut = _time_encoding(labels, cmap, repeats)
        # (b) one epoch of loading + augmenting: raw PNGs vs cache
        t = _time_epochs(ds, cat, size, cmap, repeats)

    px, res = labels[0].shape, f"{size[1]}x{size[0]}"
    raw = "raw PNGs (decode, resize, encode)"
    rows = [
        _row(
            f"label encoding, {n} real A2D2 labels {px[1]}x{px[0]}, 55 colours",
            "notebook loop over colours",
            t_loop,
            t_lut,
        ),
        _row(f"one epoch load+augment at {res}, {n} frames", raw, t["raw"], t["cache"]),
        _row(f"one epoch load only at {res}, {n} frames", raw, t["raw_load"], t["cache_load"]),
    ]
    return {
        "suite": "data",
        "rows": rows,
        "cache_build_s": round(t["build"], 2),
        "cache_bytes": t["bytes"],
        "frames": n,
        "image_size": list(size),
        "repeats": repeats,
        "augment": OmegaConf.to_container(augment_preset()),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "a2d2_root": str(root),
    }


def markdown(result: dict) -> str:
    lines = [
        "| measurement | baseline | baseline s | segtrain s | speedup |",
        "|---|---|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['measurement']} | {r['baseline']} | {r['baseline_s']} | "
            f"{r['segtrain_s']} | {r['speedup']} |"
        )
    lines.append("")
    lines.append(
        f"Cache build: {result['cache_build_s']} s for {result['frames']} frames "
        f"({result['cache_bytes'] / 1e6:.1f} MB); best of {result['repeats']} runs; "
        "single process, OpenCV single-threaded."
    )
    return "\n".join(lines) + "\n"


def run_bench(cfg: Any) -> dict:
    """``segtrain data bench``: writes ``<output_dir>/data.json`` and ``data.md``."""
    result = run_data_bench(cfg)
    out = Path(str(cfg.data_bench.output_dir))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "data.json", json.dumps(result, indent=2) + "\n")
    md = markdown(result)
    atomic_write_text(out / "data.md", md)
    print(md, flush=True)
    print(f"data benchmark written to {out / 'data.json'} and {out / 'data.md'}", flush=True)
    return result
