"""``segtrain data inspect``: what is in a dataset, as tables, plots and ``inspect.json``.

Counts per split / sequence / camera, image sizes (file headers), class pixel frequencies
per split (decoded at the training resolution, through the cache when there is one),
unknown-colour pixels, a class-frequency bar chart (log scale, in the class colours) and
a grid of sample images with their label overlays. ``dataset.num_samples`` caps how many
samples per split are decoded for the frequencies, for quick looks at big datasets.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from segtrain.data.catalog import build_catalog
from segtrain.data.classes import ClassMap
from segtrain.data.encode import decode_mask
from segtrain.data.io import image_size_of
from segtrain.data.manifest import SPLITS
from segtrain.data.progress import track
from segtrain.data.source import RawSource, open_split
from segtrain.errors import DataError
from segtrain.runtime.checkpoints import atomic_write, atomic_write_text

log = logging.getLogger(__name__)
console = Console(highlight=False, soft_wrap=True)


def output_dir(cfg: Any) -> Path:
    if cfg.output:
        return Path(str(cfg.output))
    try:
        from hydra.core.hydra_config import HydraConfig

        return Path(HydraConfig.get().runtime.output_dir) / "inspect"
    except ValueError:  # not inside a Hydra run
        return Path("inspect")


def collect(cfg: Any) -> dict:
    """Everything the report holds, as plain JSON-able data."""
    ds = cfg.dataset
    cat = build_catalog(ds)
    by_split = Counter(r.split for r in cat.records)
    by_group: dict[str, Counter] = defaultdict(Counter)
    by_camera = Counter(r.camera or "-" for r in cat.records)
    for r in cat.records:
        by_group[r.group][r.split] += 1
    sizes = Counter()
    for r in track(cat.records, len(cat.records), "reading image headers"):
        h, w = image_size_of(cat.root / r.image)
        sizes[f"{w}x{h}"] += 1

    pixels: dict[str, np.ndarray] = {}
    unknown = 0
    cmap: ClassMap | None = None
    for split in SPLITS:
        if not by_split.get(split):
            continue
        src = open_split(ds, split)
        cmap = src.class_map
        counts = np.zeros(cmap.num_classes + 1, np.int64)  # last bin: ignore
        for i in track(range(len(src)), len(src), f"class pixels ({split})"):
            if isinstance(src, RawSource):
                _, mask, n_unknown = src.load(src.records[i])
                unknown += n_unknown
            else:
                mask = src[i].mask
            if mask is None:
                continue
            b = np.bincount(mask.ravel(), minlength=256)
            counts[: cmap.num_classes] += b[: cmap.num_classes]
            counts[-1] += b[cmap.num_classes :].sum()
        pixels[split] = counts
    assert cmap is not None
    total = sum(pixels.values())
    return {
        "dataset": {
            "name": str(ds.name),
            "format": str(ds.format),
            "root": str(cat.root),
            "manifest": str(cat.manifest),
            "image_size": list(ds.image_size),
        },
        "samples": len(cat.records),
        "splits": {s: by_split.get(s, 0) for s in SPLITS},
        "split_note": cat.split.note if cat.split else None,
        "groups": {g: dict(c) for g, c in sorted(by_group.items())},
        "cameras": dict(by_camera),
        "image_sizes": dict(sizes),
        "classes": cmap.names,
        "colors": [list(c) for c in cmap.colors],
        "class_pixels": {s: v[:-1].tolist() for s, v in pixels.items()},
        "ignore_pixels": {s: int(v[-1]) for s, v in pixels.items()},
        "class_frequency": (total[:-1] / max(total.sum(), 1)).tolist(),
        "unknown_color_pixels": unknown,
        "num_samples_cap": ds.num_samples,
    }


def plot_frequencies(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    freq = np.asarray(report["class_frequency"])
    names = report["classes"]
    colors = np.asarray(report["colors"]) / 255.0
    order = np.argsort(-freq)
    fig, ax = plt.subplots(figsize=(max(6, 0.28 * len(names) + 2), 4.5))
    ax.bar(
        range(len(order)),
        np.maximum(freq[order], 1e-9),
        color=colors[order],
        edgecolor="black",
        linewidth=0.4,
    )
    ax.set_yscale("log")
    ax.set_xticks(range(len(order)), [names[i] for i in order], rotation=75, fontsize=7)
    ax.set_ylabel("fraction of labelled pixels (log)")
    ax.set_title(f"{report['dataset']['name']}: class pixel frequency")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)


def plot_samples(cfg: Any, path: Path, n: int, alpha: float = 0.5) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = []
    for split in ("train", "val"):
        try:
            src = open_split(cfg.dataset, split)
        except DataError:  # an empty split just contributes nothing
            continue
        k = max(1, n // 2)
        for i in np.linspace(0, len(src) - 1, min(k, len(src))).round().astype(int):
            picks.append((split, src[int(i)], src.class_map))
    picks = picks[:n]
    if not picks:
        return
    cols = 2
    fig, axes = plt.subplots(len(picks), cols, figsize=(8, 2.6 * len(picks)), squeeze=False)
    for row, (split, s, cm) in enumerate(picks):
        axes[row, 0].imshow(s.image)
        axes[row, 0].set_title(f"{split}: {s.id}", fontsize=7)
        if s.mask is not None:
            color = decode_mask(s.mask, cm).astype(np.float32)
            keep = (s.mask != cm.ignore_index)[..., None]
            over = np.where(keep, (1 - alpha) * s.image + alpha * color, s.image)
            axes[row, 1].imshow(over.astype(np.uint8))
            axes[row, 1].set_title("label overlay", fontsize=7)
        for ax in axes[row]:
            ax.axis("off")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)


def print_report(report: dict) -> None:
    console.print(
        f"[bold]{report['dataset']['name']}[/bold] ({report['dataset']['format']}) "
        f"at {report['dataset']['root']}: {report['samples']} samples, "
        f"splits {report['splits']}"
    )
    if report["split_note"]:
        console.print(f"  split: {report['split_note']}")
    console.print(f"  image sizes: {report['image_sizes']}   cameras: {report['cameras']}")
    t = Table(title="samples per group (sequence)")
    t.add_column("group")
    for s in SPLITS:
        t.add_column(s, justify="right")
    for g, c in list(report["groups"].items())[:40]:
        t.add_row(g, *(str(c.get(s, "")) for s in SPLITS))
    console.print(t)
    t = Table(title="class pixel frequency (all decoded splits)")
    t.add_column("#", justify="right")
    t.add_column("class")
    t.add_column("frequency", justify="right")
    for s in report["class_pixels"]:
        t.add_column(f"{s} pixels", justify="right")
    for i, name in enumerate(report["classes"]):
        t.add_row(
            str(i),
            name,
            f"{report['class_frequency'][i]:.2e}",
            *(f"{report['class_pixels'][s][i]:,}" for s in report["class_pixels"]),
        )
    console.print(t)
    if report["unknown_color_pixels"]:
        console.print(
            f"  {report['unknown_color_pixels']:,} pixels had colours outside the "
            "class list (mapped to the ignore index)"
        )


def run_inspect(cfg: Any) -> dict:
    out = output_dir(cfg)
    out.mkdir(parents=True, exist_ok=True)
    report = collect(cfg)
    print_report(report)
    plot_frequencies(report, out / "class_frequency.png")
    plot_samples(cfg, out / "samples.png", int(cfg.samples))
    report["plots"] = [str(out / "class_frequency.png"), str(out / "samples.png")]
    atomic_write_text(out / "inspect.json", json.dumps(report, indent=2) + "\n")
    console.print(f"report: {out / 'inspect.json'}; plots: {', '.join(report['plots'])}")
    return report
