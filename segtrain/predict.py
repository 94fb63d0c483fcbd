"""``segtrain predict checkpoint=... [input=<file|dir>]``: overlay PNGs for images.

Without ``input`` it predicts the dataset's validation split, so the third panel shows
the ground truth; with ``input`` it takes any RGB images (png/jpg) at any size.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from segtrain.data.io import read_image
from segtrain.data.source import open_split
from segtrain.engines.base import load_engine
from segtrain.errors import DataError
from segtrain.runtime.artifacts import resolve_artifact
from segtrain.tasks_common import task_config
from segtrain.visualize import save_png, side_by_side

log = logging.getLogger("segtrain.predict")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def _input_items(path: Path, limit: int | None) -> list[tuple[str, np.ndarray, None]]:
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    else:
        raise DataError(f"input={path} does not exist (expected an image file or a directory)")
    if not files:
        raise DataError(f"input={path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    files = files[:limit] if limit else files
    return [(f.stem, read_image(f), None) for f in files]


def run_predict(cfg: DictConfig) -> Path:
    artifact = resolve_artifact(cfg.checkpoint)
    resolved = task_config(cfg, artifact)
    limit = int(resolved.limit) if resolved.limit else None
    if resolved.input:
        items = _input_items(Path(str(resolved.input)), limit)
    else:
        source = open_split(resolved.dataset, "val")
        count = min(len(source), limit or len(source))
        items = [(s.id, s.image, s.mask) for s in (source[i] for i in range(count))]
    out_dir = Path(str(resolved.output or Path(resolved.paths.output_dir) / "predictions"))
    engine = load_engine(artifact.framework)
    model = engine.load(artifact, resolved)
    classes = model.classes
    predictions = engine.predict_batches(model, [image for _, image, _ in items], resolved)
    written = 0
    for (item_id, image, truth), pred in zip(items, predictions, strict=True):
        panel = side_by_side(
            image,
            pred,
            classes.names,
            classes.colors,
            classes.ignore_index,
            ground_truth=truth,
            alpha=float(resolved.overlay_alpha),
        )
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in item_id)
        save_png(out_dir / f"{safe}.png", panel)
        written += 1
    print(f"Wrote {written} prediction overlay(s) to {out_dir}", flush=True)
    return out_dir
