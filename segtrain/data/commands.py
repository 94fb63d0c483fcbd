"""``segtrain data <sub>``: the functions the CLI calls with the composed config.

Each takes the full ``configs/data.yaml`` composition (``cfg.dataset``, ``cfg.paths``,
``cfg.src``/``cfg.dst``, ...), prints a short human summary and raises
:class:`~segtrain.errors.SegtrainError` subclasses for anything the user can fix.
"""

from __future__ import annotations

import logging
from typing import Any

from rich.console import Console

from segtrain.data.catalog import build_catalog
from segtrain.data.source import image_size_of_cfg, load_class_map

log = logging.getLogger(__name__)
console = Console(highlight=False, soft_wrap=True)


def synth(cfg: Any) -> None:
    """Generate the synthetic scenes (forced regeneration with ``+force=true``)."""
    from pathlib import Path

    from segtrain.data.formats.synthetic import generate

    ds = cfg.dataset
    if str(ds.format) != "synthetic":
        log.warning(
            "dataset.format=%s; generating synthetic scenes into %s anyway", ds.format, ds.root
        )
    root = Path(str(ds.root))
    made = generate(root, ds, force=bool(cfg.force))
    s = ds.synth
    what = "generated" if made else "already present (same parameters)"
    console.print(
        f"synthetic scenes {what}: {s.num_sequences} sequences x "
        f"{s.frames_per_sequence} frames, {s.height}x{s.width}, seed {s.seed} -> {root}"
    )
    cat = build_catalog(ds)
    console.print(
        f"manifest {cat.manifest}: {len(cat.records)} samples "
        f"{cat.split.counts if cat.split else ''}"
    )


def prepare(cfg: Any) -> None:
    """Scan + check + split -> manifest; with ``dataset.cache.enabled=true`` also the cache."""
    ds = cfg.dataset
    cat = build_catalog(ds, force=bool(cfg.force))
    state = "built" if cat.rebuilt else "up to date"
    console.print(f"manifest {cat.manifest} {state}: {len(cat.records)} samples")
    if cat.split:
        console.print(f"  splits {cat.split.counts} ({cat.split.how}: {cat.split.note})")
        for name, groups in cat.split.groups.items():
            if groups:
                shown = ", ".join(groups[:6]) + (" ..." if len(groups) > 6 else "")
                console.print(f"  {name} groups ({len(groups)}): {shown}")
    if cat.skipped:
        console.print(f"  skipped {len(cat.skipped)} bad sample(s) (dataset.on_error=skip):")
        for p in cat.skipped[:10]:
            console.print(f"    {p}")
    if not cat.written:
        console.print(
            "  [yellow]manifest kept in memory: the dataset root is not writable; "
            "set dataset.manifest=<writable path>[/yellow]"
        )
    if ds.cache.enabled:
        from segtrain.data.cache import build_cache

        size = image_size_of_cfg(ds)
        s = build_cache(ds, cat, size, load_class_map(ds))
        console.print(
            f"cache {s.dir}: {s.samples} samples in {s.shards} shard(s) at {size[0]}x{size[1]} "
            f"({s.built} written, {s.reused} reused, {s.bytes / 1e6:.1f} MB, {s.seconds:.1f} s)"
        )
        if s.skipped:
            console.print(f"  skipped {len(s.skipped)} sample(s) that failed to decode:")
            for p in s.skipped[:10]:
                console.print(f"    {p}")
        if s.unknown_pixels:
            console.print(
                f"  {s.unknown_pixels} label pixels had colours outside the class "
                f"list and were mapped to the ignore index {ds.ignore_index}"
            )


def inspect(cfg: Any) -> None:
    from segtrain.data.inspect import run_inspect

    run_inspect(cfg)


def upload(cfg: Any) -> None:
    from segtrain.data.storage import sync_command

    sync_command(cfg, direction="upload")


def download(cfg: Any) -> None:
    """``src=s3://...``: copy an extracted prefix; without ``src``: the public A2D2 data."""
    if cfg.get("src"):
        from segtrain.data.storage import sync_command

        sync_command(cfg, direction="download")
        return
    from segtrain.data.download import download_command

    download_command(cfg)


def bench(cfg: Any) -> None:
    from segtrain.data.bench import run_bench

    run_bench(cfg)
