"""The embedded default dataset: procedural street scenes written in the A2D2 layout.

Writing real A2D2 files (not an in-memory toy) means the demo exercises the very reader,
encoder, manifest and cache code that real A2D2 goes through. Generation is deterministic
in ``dataset.synth`` and is done on first use (``open_split``) or by ``segtrain data
synth``; a ``synth.json`` marker records the parameters, so a finished set is reused, a
set made with other parameters is regenerated only on ``force=true``, and a directory
segtrain did not generate is never written into.
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
from segtrain.data.locking import file_lock
from segtrain.data.scenes import SYNTH_CLASSES, make_world, render_frame
from segtrain.errors import ConfigError, DataError
from segtrain.runtime.checkpoints import TMP_PREFIX, atomic_write_text

log = logging.getLogger(__name__)
MARKER = "synth.json"
LOCK_FILE = ".segtrain.lock"
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


def read_marker(root: Path) -> dict | None:
    """The generator's marker in ``root`` (written first, completed last), or None."""
    try:
        marker = json.loads((root / MARKER).read_text())
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def is_generated(root: Path, params: dict) -> bool:
    """A complete set generated with exactly ``params`` is in ``root``."""
    marker = read_marker(root)
    return marker is not None and "frames" in marker and marker.get("params") == params


def _foreign_entries(root: Path) -> list[str]:
    """What in ``root`` segtrain did not put there (its lock file and the temporary
    files of a concurrent writer aside)."""
    if not root.is_dir():
        return []
    return sorted(
        p.name for p in root.iterdir() if p.name != LOCK_FILE and not p.name.startswith(TMP_PREFIX)
    )


def check_target(root: Path, params: dict, force: bool) -> None:
    """Refuse to generate into ``root`` unless it is empty or segtrain generated it, and
    refuse to replace a complete set made with other ``dataset.synth`` values unless
    ``force``: either would silently destroy data (a user's dataset, or the frames an
    earlier run trained on)."""
    if root.exists() and not root.is_dir():
        raise DataError(f"dataset root {root} is a file; synthetic scenes need a directory")
    marker = read_marker(root)
    if marker is None:
        foreign = _foreign_entries(root)
        if foreign:
            shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
            raise DataError(
                f"{root} is not empty ({shown}) and segtrain did not generate it (no "
                f"{MARKER}); refusing to write synthetic scenes there. Point dataset.root "
                "at an empty or new directory"
            )
        return
    old = marker.get("params")
    if force or "frames" not in marker or not isinstance(old, dict):
        return  # forced, or an interrupted generation of ours: nothing complete to lose
    differ = sorted(k for k in params if k != "version" and old.get(k) != params[k])
    if differ:
        changes = ", ".join(f"{k} {old.get(k)} -> {params[k]}" for k in differ)
        raise DataError(
            f"{root} holds synthetic scenes generated with other dataset.synth values "
            f"({changes}); `segtrain data synth force=true` regenerates them, or point "
            "dataset.root at a new directory"
        )


def generate(root: Path, cfg: Any, force: bool = False) -> bool:
    """Write the synthetic set under ``root``; returns False when it was already there.

    Only into an empty directory or one this generator wrote (see :func:`check_target`);
    the marker is written first (so an interrupted run is still recognised as ours) and
    completed with the frame count last (so only a finished set is reused).
    """
    params = synth_params(cfg)
    root = Path(root)
    if not force and is_generated(root, params):
        return False
    check_target(root, params, force)
    marker = read_marker(root)
    if marker is not None and marker.get("params", {}).get("version") != GENERATOR_VERSION:
        log.warning("regenerating %s: it was made by an older scene generator", root)
    t0 = time.perf_counter()
    atomic_write_text(root / MARKER, json.dumps({"params": params}, indent=2) + "\n")
    for stale in (root / SUBDIR, root / ".segtrain_cache"):
        if stale.exists():
            shutil.rmtree(stale)
    for stale in root.glob("manifest*.json*"):
        stale.unlink()
    n = _write_frames(root / SUBDIR, params)
    atomic_write_text(root / MARKER, json.dumps({"params": params, "frames": n}, indent=2) + "\n")
    log.info(
        "generated %d synthetic frames (%dx%d, %d sequences) in %s in %.1f s",
        n,
        params["height"],
        params["width"],
        params["num_sequences"],
        root,
        time.perf_counter() - t0,
    )
    return True


def _write_frames(base: Path, params: dict) -> int:
    """Every frame and label in the A2D2 layout, then the class list; the frame count."""
    h, w = params["height"], params["width"]
    n = 0
    for seq in range(params["num_sequences"]):
        name = sequence_name(seq)
        ts = name.replace("_", "")
        world = make_world(params["seed"] * 1000 + seq, h, w, params["frames_per_sequence"])
        for t in range(params["frames_per_sequence"]):
            image, label = render_frame(world, t)
            frame = f"{seq * 10000 + t * 10:09d}"
            cam = base / name / "camera" / "cam_front_center"
            write_png(cam / f"{ts}_camera_frontcenter_{frame}.png", image)
            lab = base / name / "label" / "cam_front_center"
            write_png(lab / f"{ts}_label_frontcenter_{frame}.png", _colorize(label))
            n += 1
    atomic_write_text(
        base / "class_list.json",
        json.dumps({color: name for name, color in SYNTH_CLASSES}, indent=4) + "\n",
    )
    return n


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
        """Generate on first use; a foreign or differently generated root is refused
        before anything (even the lock file) is written into it."""
        params = synth_params(cfg)
        if is_generated(root, params):
            return
        check_target(root, params, force=False)
        with file_lock(root / LOCK_FILE, create=True):
            generate(root, cfg)

    def class_map(self, root: Path, cfg: Any) -> ClassMap:
        ignore = int(cfg.ignore_index)
        if (root / SUBDIR / "class_list.json").is_file():
            cmap = ClassMap.from_a2d2_json(root / SUBDIR / "class_list.json", ignore)
        else:
            cmap = synth_class_map(ignore)
        return cmap


def get(name: str) -> SyntheticFormat:
    return SyntheticFormat(name)
