"""Your own data: ``images/`` and ``masks/`` with matching relative paths.

::

    <root>/images/[<split>/][<group>/]<name>.(png|jpg)
    <root>/masks/[<split>/][<group>/]<name>.png
    <root>/class_list.json | class_dict.csv | classes.txt   (or dataset.class_list)

A ``.json`` (A2D2 style ``{"#rrggbb": name}``) or ``.csv`` (``name,r,g,b``) class list
means RGB colour masks; a ``.txt`` list (one name per line) means 8-bit index masks.
When the first level under ``images/`` is ``train``/``val``/``test`` those are the splits
(``dataset.split.by=given``); the next directory level, if any, is the group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from segtrain.data.classes import ClassMap
from segtrain.data.encode import index_table
from segtrain.data.formats import ScanResult
from segtrain.data.formats.camvid import IMAGE_SUFFIXES, _layout_error
from segtrain.data.records import Record, ScanProblem
from segtrain.errors import DataError

CLASS_FILES = ("class_list.json", "class_dict.csv", "classes.txt")
SPLITS = ("train", "val", "test")


class FolderFormat:
    name = "folder"

    def __init__(self, name: str = "folder") -> None:
        self.name = name
        self._kind: str | None = None

    def class_list_path(self, root: Path, cfg: Any) -> Path:
        explicit = cfg.class_list
        if explicit:
            return Path(str(explicit))
        for name in CLASS_FILES:
            if (root / name).is_file():
                return root / name
        raise DataError(
            f"{root}: no class list; put one of {CLASS_FILES} in the root or set "
            "dataset.class_list=<path>"
        )

    def label_kind_for(self, root: Path, cfg: Any) -> str:
        return "index" if self.class_list_path(root, cfg).suffix == ".txt" else "color"

    @property
    def label_kind(self) -> str:
        if self._kind is None:
            raise RuntimeError("label kind is known after class_map()/scan()")
        return self._kind

    def scan(self, root: Path, cfg: Any) -> ScanResult:
        img_root, mask_root = root / "images", root / "masks"
        if not img_root.is_dir() or not mask_root.is_dir():
            raise _layout_error(root, "images/ and masks/ directories with matching files")
        self._kind = self.label_kind_for(root, cfg)
        images = sorted(p for p in img_root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        given = any((img_root / s).is_dir() for s in SPLITS)
        records, problems = [], []
        for img in images:
            rel = img.relative_to(img_root)
            parts = rel.parts[:-1]
            split = None
            if given:
                if not parts or parts[0] not in SPLITS:
                    problems.append(ScanProblem(str(img), "outside images/{train,val,test}/"))
                    continue
                split, parts = parts[0], parts[1:]
            mask = mask_root / rel.with_suffix(".png")
            if not mask.is_file():
                problems.append(ScanProblem(str(img), f"no mask file {mask}"))
                continue
            records.append(
                Record(
                    id=str(rel.with_suffix("")),
                    image=str(img.relative_to(root)),
                    label=str(mask.relative_to(root)),
                    group=parts[0] if parts else "default",
                    split=split,
                )
            )
        if not records and not problems:
            raise _layout_error(root, "image files under images/")
        return ScanResult(records, problems, has_given_splits=given)

    def class_map(self, root: Path, cfg: Any) -> ClassMap:
        path = self.class_list_path(root, cfg)
        self._kind = "index" if path.suffix == ".txt" else "color"
        return ClassMap.from_file(path, int(cfg.ignore_index))

    def index_table(self, cfg: Any) -> np.ndarray | None:
        if self._kind != "index":
            return None
        root = Path(str(cfg.root))
        n = ClassMap.from_file(self.class_list_path(root, cfg)).num_classes
        return index_table(n, int(cfg.ignore_index))


def get(name: str) -> FolderFormat:
    return FolderFormat(name)
