"""The embedded default dataset: procedural street scenes written in the A2D2 layout.

Writing real A2D2 files (not an in-memory toy) means the demo exercises the very reader,
encoder, manifest and cache code that real A2D2 goes through. Generation is deterministic
in ``dataset.synth`` and is done on first use (``open_split``) or by ``segtrain data
synth``; a ``synth.json`` marker written last records the parameters, so a finished set
is reused and a changed one is regenerated.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from segtrain.data.classes import ClassMap, hex_to_rgb
from segtrain.data.formats.a2d2 import SUBDIR, A2D2Format
from segtrain.data.io import write_png
from segtrain.data.scenes import SYNTH_CLASSES, make_world, render_frame
from segtrain.errors import ConfigError, DataError

log = logging.getLogger(__name__)
MARKER = "synth.json"
GENERATOR_VERSION = 3


def synth_params(cfg: Any) -> dict:
    s = cfg.synth
    params = {
        "num_sequences": int(s.num_sequences),
        "frames_per_sequence": int(s.frames_per_sequence),
        "height": int(s.height),
        "width": int(s.width),
        "seed": int(s.seed),
        "version": GENERATOR_VERSION,
    }
    if params["num_sequences"] < 1 or params["frames_per_sequence"] < 1:
        raise ConfigError("dataset.synth.num_sequences and frames_per_sequence must be >= 1")
    if params["height"] < 32 or params["width"] < 32:
        raise ConfigError("dataset.synth.height and width must be >= 32 pixels")
    return params


def synth_class_map(ignore_index: int = 255) -> ClassMap:
    return ClassMap(
        names=[n for n, _ in SYNTH_CLASSES],
        colors=[hex_to_rgb(c) for _, c in SYNTH_CLASSES],
        ignore_index=ignore_index,
    )


def sequence_name(seq: int) -> str:
    t = datetime(2019, 4, 1, 9, 0, 0) + timedelta(
        days=seq, hours=seq % 5, minutes=7 * seq, seconds=11 * seq
    )
    return t.strftime("%Y%m%d_%H%M%S")


def is_generated(root: Path, params: dict) -> bool:
    marker = root / MARKER
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text()).get("params") == params
    except ValueError:
        return False


def generate(root: Path, cfg: Any, force: bool = False) -> bool:
    """Write the synthetic set under ``root``; returns False when it was already there."""
    params = synth_params(cfg)
    root = Path(root)
    if not force and is_generated(root, params):
        return False
    if root.exists() and (root / SUBDIR).exists() and not (root / MARKER).exists():
        raise DataError(
            f"{root} holds an A2D2-style dataset that segtrain did not generate; "
            "refusing to overwrite it. Point dataset.root at an empty or new directory."
        )
    t0 = time.perf_counter()
    (root / MARKER).unlink(missing_ok=True)
    for stale in (root / SUBDIR, root / ".segtrain_cache"):
        if stale.exists():
            shutil.rmtree(stale)
    for stale in root.glob("manifest*.json*"):
        stale.unlink()
    base = root / SUBDIR
    base.mkdir(parents=True, exist_ok=True)
    h, w = params["height"], params["width"]
    n = 0
    for seq in range(params["num_sequences"]):
        name = sequence_name(seq)
        ts = name.replace("_", "")
        world = make_world(params["seed"] * 1000 + seq, h, w, params["frames_per_sequence"])
        for t in range(params["frames_per_sequence"]):
            image, label = render_frame(world, t)
            frame = f"{seq * 10000 + t * 10:09d}"
            write_png(
                base
                / name
                / "camera"
                / "cam_front_center"
                / f"{ts}_camera_frontcenter_{frame}.png",
                image,
            )
            write_png(
                base / name / "label" / "cam_front_center" / f"{ts}_label_frontcenter_{frame}.png",
                _colorize(label),
            )
            n += 1
    (base / "class_list.json").write_text(
        json.dumps({color: name for name, color in SYNTH_CLASSES}, indent=4) + "\n"
    )
    (root / MARKER).write_text(json.dumps({"params": params, "frames": n}, indent=2) + "\n")
    log.info(
        "generated %d synthetic frames (%dx%d, %d sequences) in %s in %.1f s",
        n,
        h,
        w,
        params["num_sequences"],
        root,
        time.perf_counter() - t0,
    )
    return True


def _colorize(label):
    import numpy as np

    pal = np.zeros((256, 3), np.uint8)
    for i, (_, c) in enumerate(SYNTH_CLASSES):
        pal[i] = hex_to_rgb(c)
    return pal[label]


class SyntheticFormat(A2D2Format):
    """A2D2 reader + on-demand generation."""

    name = "synthetic"

    def ensure(self, root: Path, cfg: Any) -> None:
        generate(root, cfg)

    def class_map(self, root: Path, cfg: Any) -> ClassMap:
        ignore = int(getattr(cfg, "ignore_index", 255))
        if (root / SUBDIR / "class_list.json").is_file():
            cmap = ClassMap.from_a2d2_json(root / SUBDIR / "class_list.json", ignore)
        else:
            cmap = synth_class_map(ignore)
        return cmap


def get(name: str) -> SyntheticFormat:
    return SyntheticFormat(name)
