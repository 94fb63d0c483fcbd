"""Audi A2D2 ``camera_lidar_semantic``: colour-coded labels beside camera frames.

Layout (the real dataset and the synthetic scenes share it)::

    <root>/[camera_lidar_semantic/]class_list.json
    <root>/[camera_lidar_semantic/]<YYYYMMDD_hhmmss>/camera/cam_front_center/
        <YYYYMMDDhhmmss>_camera_frontcenter_<frame>.png
    <root>/[camera_lidar_semantic/]<YYYYMMDD_hhmmss>/label/cam_front_center/
        <YYYYMMDDhhmmss>_label_frontcenter_<frame>.png

Each sequence (drive) is a group, so splits never put one drive on both sides. Record
ids carry the camera (``<sequence>/<camera>/<frame>``) because frame numbers repeat
across the six cameras.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from segtrain.data.classes import ClassMap
from segtrain.data.formats import ScanResult
from segtrain.data.records import Record, ScanProblem
from segtrain.errors import ConfigError, DataError

CAMERAS = ("front_center", "front_left", "front_right", "side_left", "side_right", "rear_center")
SEQUENCE_RE = re.compile(r"^\d{8}_\d{6}$")
SUBDIR = "camera_lidar_semantic"
FRAME_RE = re.compile(r"^(?P<ts>\d+)_camera_(?P<cam>[a-z]+)_(?P<frame>\d+)\.png$")


def find_base(root: Path) -> Path:
    """The directory holding ``class_list.json`` and the sequence folders."""
    if not root.is_dir():
        raise DataError(f"dataset root {root} does not exist or is not a directory")
    for base in (root / SUBDIR, root):
        if base.is_dir() and any(p.is_dir() and SEQUENCE_RE.match(p.name) for p in base.iterdir()):
            return base
    entries = sorted(p.name for p in root.iterdir() if not p.name.startswith("."))[:12]
    hint = ""
    names = set(entries)
    if {"train", "trainannot"} <= names:
        hint = " It looks like CamVid (SegNet layout): use dataset=camvid_segnet."
    elif {"train", "train_labels"} <= names:
        hint = " It looks like CamVid (Kaggle layout): use dataset=camvid."
    elif {"images", "masks"} <= names:
        hint = " It looks like a folder dataset: use dataset=folder."
    if not entries:
        raise DataError(f"dataset root {root} is empty; expected the A2D2 layout.{hint}")
    raise DataError(
        f"{root} is not in the A2D2 layout: expected {SUBDIR}/<YYYYMMDD_hhmmss>/camera/"
        f"cam_<name>/*.png (or the sequence folders directly under the root); found "
        f"{entries}.{hint}"
    )


def camera_token(camera: str) -> str:
    """``front_center`` -> ``frontcenter`` (the token in A2D2 file names)."""
    return camera.replace("_", "")


class A2D2Format:
    name = "a2d2"
    label_kind = "color"

    def __init__(self, name: str = "a2d2") -> None:
        self.name = name

    def cameras(self, cfg: Any) -> list[str]:
        cams = list(cfg.cameras)
        if not cams:
            raise ConfigError(f"dataset.cameras is empty; name at least one of {CAMERAS}")
        bad = [c for c in cams if c not in CAMERAS]
        if bad:
            raise ConfigError(f"dataset.cameras has unknown camera(s) {bad}; expected {CAMERAS}")
        return cams

    def scan(self, root: Path, cfg: Any) -> ScanResult:
        base = find_base(root)
        rel_base = base.relative_to(root)
        records: list[Record] = []
        problems: list[ScanProblem] = []
        for seq_dir in sorted(p for p in base.iterdir() if SEQUENCE_RE.match(p.name)):
            for cam in self.cameras(cfg):
                cam_dir = seq_dir / "camera" / f"cam_{cam}"
                if not cam_dir.is_dir():
                    continue
                label_dir = seq_dir / "label" / f"cam_{cam}"
                for img in sorted(cam_dir.glob("*.png")):
                    m = FRAME_RE.match(img.name)
                    if not m:
                        problems.append(
                            ScanProblem(str(img), "file name is not <ts>_camera_<cam>_<frame>.png")
                        )
                        continue
                    lab = label_dir / img.name.replace("_camera_", "_label_", 1)
                    rec_id = f"{seq_dir.name}/{cam}/{m['frame']}"
                    if not lab.is_file():
                        problems.append(ScanProblem(str(img), f"no label file {lab}"))
                        continue
                    records.append(
                        Record(
                            id=rec_id,
                            image=str(rel_base / img.relative_to(base)),
                            label=str(rel_base / lab.relative_to(base)),
                            group=seq_dir.name,
                            camera=cam,
                        )
                    )
        if not records and not problems:
            raise DataError(
                f"{base}: no camera frames found for cameras {self.cameras(cfg)} "
                f"(looked in <sequence>/camera/cam_<camera>/*.png)"
            )
        return ScanResult(records, problems)

    def class_list_path(self, root: Path) -> Path:
        for cand in (root / SUBDIR / "class_list.json", root / "class_list.json"):
            if cand.is_file():
                return cand
        raise DataError(
            f"{root}: no class_list.json (looked in {root / SUBDIR} and {root}); "
            "A2D2 ships one in camera_lidar_semantic/"
        )

    def class_map(self, root: Path, cfg: Any) -> ClassMap:
        explicit = cfg.class_list
        path = Path(explicit) if explicit else self.class_list_path(root)
        return ClassMap.from_a2d2_json(path, ignore_index=int(cfg.ignore_index))

    def index_table(self, cfg: Any) -> np.ndarray | None:
        return None


def get(name: str) -> A2D2Format:
    return A2D2Format(name)
