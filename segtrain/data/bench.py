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

from segtrain.config import AugmentConfig, DatasetConfig
from segtrain.data.cache import build_cache
from segtrain.data.catalog import build_catalog
from segtrain.data.encode import encode_color_label, encode_loop_baseline
from segtrain.data.io import read_color_label
from segtrain.data.source import load_class_map, open_split
from segtrain.data.transforms import build_transform
from segtrain.errors import DataError
from segtrain.runtime.checkpoints import atomic_write_text

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]
#: the augment=default preset (configs/augment/default.yaml)
DEFAULT_AUGMENT = {
    "hflip": 0.5,
    "scale_min": 0.75,
    "scale_max": 1.25,
    "rotate_limit": 0.0,
    "brightness_contrast": 0.3,
    "hue_saturation": 0.2,
}


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _bench_cfg(cfg: Any) -> Any:
    b = cfg.get("data_bench") if hasattr(cfg, "get") else None
    return (
        b
        if b is not None
        else OmegaConf.create(
            {
                "root": None,
                "image_size": [604, 960],
                "repeats": 3,
                "work_dir": None,
                "output_dir": "bench_results",
            }
        )
    )


def a2d2_root(bcfg: Any) -> Path:
    root = (
        Path(str(bcfg.root))
        if bcfg.get("root")
        else (REPO_ROOT / ".." / "shared" / "data" / "a2d2-sample").resolve()
    )
    if not root.is_dir():
        raise DataError(
            f"data benchmark: no A2D2 frames at {root}; set data_bench.root=<A2D2 root with "
            "camera_lidar_semantic/>"
        )
    return root


def run_data_bench(cfg: Any) -> dict:
    """Both measurements; returns ``{"suite": "data", "rows": [...], ...}``."""
    bcfg = _bench_cfg(cfg)
    root = a2d2_root(bcfg)
    repeats = int(bcfg.repeats)
    size = (int(bcfg.image_size[0]), int(bcfg.image_size[1]))
    with tempfile.TemporaryDirectory(prefix="segtrain-bench-") as tmp:
        work = Path(str(bcfg.work_dir)) if bcfg.get("work_dir") else Path(tmp)
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
        cat = build_catalog(ds, force=True)
        cmap = load_class_map(ds)
        n = len(cat.records)

        # (a) label encoding on decoded full-resolution labels
        labels = [read_color_label(cat.root / r.label) for r in cat.records]
        for lab in labels:
            if not np.array_equal(
                encode_color_label(lab, cmap).mask, encode_loop_baseline(lab, cmap)
            ):
                raise AssertionError("vectorised encoding differs from the loop baseline")
        # the loop is the slow side (seconds per label): once is enough and keeps it short
        t_loop = _best(lambda: [encode_loop_baseline(lab, cmap) for lab in labels], 1)
        t_lut = _best(lambda: [encode_color_label(lab, cmap) for lab in labels], repeats)

        # (b) one epoch of loading + augmenting: raw PNGs vs cache
        aug = OmegaConf.structured(AugmentConfig(**DEFAULT_AUGMENT))
        transform = build_transform(aug, size, train=True, ignore_index=cmap.ignore_index)
        transform.reseed(0)
        raw = open_split(ds, "train")

        def epoch(src) -> None:
            for i in range(len(src)):
                s = src[i]
                transform(s.image, s.mask)

        t_raw = _best(lambda: epoch(raw), repeats)
        t0 = time.perf_counter()
        summary = build_cache(ds, cat, size, cmap, progress=False)
        t_build = time.perf_counter() - t0
        cached = open_split(ds, "train")
        if type(cached).__name__ != "CacheSource":
            raise AssertionError("the cache was not picked up by open_split")
        t_cache = _best(lambda: epoch(cached), repeats)
        t_cache_load = _best(lambda: [cached[i] for i in range(len(cached))], repeats)
        t_raw_load = _best(lambda: [raw[i] for i in range(len(raw))], repeats)

    px = labels[0].shape
    rows = [
        {
            "measurement": f"label encoding, {n} real A2D2 labels {px[1]}x{px[0]}, 55 colours",
            "baseline": "notebook loop over colours",
            "baseline_s": round(t_loop, 3),
            "segtrain_s": round(t_lut, 3),
            "speedup": f"{t_loop / t_lut:.1f}x",
        },
        {
            "measurement": f"one epoch load+augment at {size[1]}x{size[0]}, {n} frames",
            "baseline": "raw PNGs (decode, resize, encode)",
            "baseline_s": round(t_raw, 3),
            "segtrain_s": round(t_cache, 3),
            "speedup": f"{t_raw / t_cache:.1f}x",
        },
        {
            "measurement": f"one epoch load only at {size[1]}x{size[0]}, {n} frames",
            "baseline": "raw PNGs (decode, resize, encode)",
            "baseline_s": round(t_raw_load, 3),
            "segtrain_s": round(t_cache_load, 3),
            "speedup": f"{t_raw_load / t_cache_load:.1f}x",
        },
    ]
    return {
        "suite": "data",
        "rows": rows,
        "cache_build_s": round(t_build, 2),
        "cache_bytes": summary.bytes,
        "frames": n,
        "image_size": list(size),
        "repeats": repeats,
        "augment": DEFAULT_AUGMENT,
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
    out = Path(str(_bench_cfg(cfg).output_dir))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "data.json", json.dumps(result, indent=2) + "\n")
    md = markdown(result)
    atomic_write_text(out / "data.md", md)
    print(md, flush=True)
    print(f"data benchmark written to {out / 'data.json'} and {out / 'data.md'}", flush=True)
    return result
