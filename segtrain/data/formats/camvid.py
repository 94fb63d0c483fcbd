"""CamVid in its two common layouts.

Kaggle (``dataset=camvid``): ``train/ train_labels/ val/ val_labels/ test/ test_labels/``
plus ``class_dict.csv``; labels are RGB ``<stem>_L.png``; ``Void`` is ignored.

SegNet (``dataset=camvid_segnet``): ``train/ trainannot/ val/ valannot/ test/ testannot/``
with 8-bit index PNGs (0-10 classes, 11 = unlabelled -> ignore) and optional
``train.txt``/``val.txt``/``test.txt`` lists whose paths carry a ``/SegNet/CamVid/``
prefix.

Both come with their own splits (``dataset.split.by=given`` in the presets). The group
of a frame is its clip (``0016E5``, ``0006R0``, ``0001TP``, ``Seq05VD``): the file name
up to the first underscore.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from segtrain.data.classes import ClassMap
from segtrain.data.encode import index_table
from segtrain.data.formats import ScanResult
from segtrain.data.records import Record, ScanProblem
from segtrain.errors import DataError

SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")

SEGNET_CLASSES = [
    "Sky",
    "Building",
    "Pole",
    "Road",
    "Pavement",
    "Tree",
    "SignSymbol",
    "Fence",
    "Car",
    "Pedestrian",
    "Bicyclist",
]
#: SegNet classes drawn with their Kaggle (32-class table) colours
SEGNET_COLORS = [
    (128, 128, 128),
    (128, 0, 0),
    (192, 192, 128),
    (128, 64, 128),
    (0, 0, 192),
    (128, 128, 0),
    (192, 128, 128),
    (64, 64, 128),
    (64, 0, 128),
    (64, 64, 0),
    (0, 128, 192),
]
SEGNET_UNLABELLED = 11


def clip_of(stem: str) -> str:
    return stem.split("_", 1)[0] if "_" in stem else stem


def _layout_error(root: Path, expected: str, found_hint: str = "") -> DataError:
    if not root.is_dir():
        return DataError(f"dataset root {root} does not exist or is not a directory")
    entries = sorted(p.name for p in root.iterdir() if not p.name.startswith("."))[:12]
    names = set(entries)
    hint = found_hint
    if not hint:
        if "camera_lidar_semantic" in names or "class_list.json" in names:
            hint = " It looks like A2D2: use dataset=a2d2."
        elif {"train", "trainannot"} <= names:
            hint = " It looks like the SegNet layout: use dataset=camvid_segnet."
        elif {"train", "train_labels"} <= names:
            hint = " It looks like the Kaggle layout: use dataset=camvid."
        elif {"images", "masks"} <= names:
            hint = " It looks like a folder dataset: use dataset=folder."
    if not entries:
        return DataError(f"dataset root {root} is empty; expected {expected}.{hint}")
    return DataError(f"{root} is not in the expected layout: {expected}; found {entries}.{hint}")


class CamVidFormat:
    def __init__(self, name: str) -> None:
        self.name = name
        self.segnet = name == "camvid_segnet"
        self.label_kind = "index" if self.segnet else "color"

    # ------------------------------------------------------------------ scan
    def scan(self, root: Path, cfg: Any) -> ScanResult:
        label_dir = "{}annot" if self.segnet else "{}_labels"
        expected = (
            "train/ + trainannot/ (val/, valannot/, test/, testannot/ optional)"
            if self.segnet
            else "train/ + train_labels/ (val/ test/ and their _labels optional) and class_dict.csv"
        )
        if (
            not root.is_dir()
            or not (root / "train").is_dir()
            or not (root / label_dir.format("train")).is_dir()
        ):
            raise _layout_error(root, expected)
        records: list[Record] = []
        problems: list[ScanProblem] = []
        for split in SPLITS:
            img_dir, lab_dir = root / split, root / label_dir.format(split)
            if not img_dir.is_dir():
                continue
            pairs = self._list_pairs(root, split) if self.segnet else None
            if pairs is None:
                pairs = []
                for img in sorted(
                    p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
                ):
                    lab = lab_dir / (img.name if self.segnet else f"{img.stem}_L.png")
                    pairs.append((img, lab))
            for img, lab in pairs:
                if not img.is_file():
                    problems.append(ScanProblem(str(img), "listed image file is missing"))
                    continue
                if not lab.is_file():
                    problems.append(ScanProblem(str(img), f"no label file {lab}"))
                    continue
                records.append(
                    Record(
                        id=f"{split}/{img.stem}",
                        image=str(img.relative_to(root)),
                        label=str(lab.relative_to(root)),
                        group=clip_of(img.stem),
                        split=split,
                    )
                )
        if not records and not problems:
            raise _layout_error(root, expected + " with image files in them")
        return ScanResult(records, problems, has_given_splits=True)

    def _list_pairs(self, root: Path, split: str) -> list[tuple[Path, Path]] | None:
        """Pairs from ``<split>.txt`` (SegNet's lists), or None when there is no list."""
        lst = root / f"{split}.txt"
        if not lst.is_file():
            return None
        pairs = []
        for n, line in enumerate(lst.read_text().splitlines(), start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise DataError(f"{lst}:{n}: expected '<image path> <label path>', got {line!r}")
            pairs.append(tuple(root / _strip_prefix(p) for p in parts))
        return pairs  # type: ignore[return-value]

    # ------------------------------------------------------------------ classes
    def class_map(self, root: Path, cfg: Any) -> ClassMap:
        ignore = int(cfg.ignore_index)
        explicit = cfg.class_list
        if self.segnet:
            cmap = (
                ClassMap.from_file(explicit, ignore)
                if explicit
                else ClassMap.from_index_list(SEGNET_CLASSES, SEGNET_COLORS, ignore)
            )
        else:
            path = Path(explicit) if explicit else root / "class_dict.csv"
            if not path.is_file():
                if not root.is_dir():
                    raise _layout_error(root, "the Kaggle CamVid layout")
                raise DataError(
                    f"{path} not found: the Kaggle CamVid layout ships class_dict.csv "
                    "(name,r,g,b); or set dataset.class_list=<path>"
                )
            cmap = ClassMap.from_kaggle_csv(path, ignore)
        return cmap

    def index_table(self, cfg: Any) -> np.ndarray | None:
        if not self.segnet:
            return None
        ignore = int(cfg.ignore_index)
        return index_table(len(SEGNET_CLASSES), ignore, void_values=(SEGNET_UNLABELLED,))


def _strip_prefix(path: str) -> str:
    """``/SegNet/CamVid/train/x.png`` -> ``train/x.png``."""
    p = path.replace("\\", "/")
    marker = "/CamVid/"
    if marker in p:
        return p.split(marker, 1)[1]
    return p.lstrip("/")


def get(name: str) -> CamVidFormat:
    return CamVidFormat(name)
