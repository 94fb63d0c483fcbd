"""The data side's plain types: a sample as listed on disk, and a sample once decoded.

Formats turn a root directory into :class:`Record` objects; manifests store them as
JSONL; the two readers (:mod:`segtrain.data.raw`, :mod:`segtrain.data.cache`) decode
them into :class:`Sample` objects behind the :class:`SampleSource` protocol that engines
index. Paths are relative to the dataset root so a manifest moves with its data (local
disk, S3, a SageMaker channel). The types live here, below every reader, so that no
reader has to import another to speak the same language.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from segtrain.data.classes import ClassMap


@dataclass
class Record:
    id: str  # unique; includes the camera for A2D2 ("<sequence>/<camera>/<frame>")
    image: str  # path relative to the dataset root
    label: str | None  # relative path, or None for unlabelled samples
    group: str  # sequence / drive: the unit splits never cut through
    camera: str | None = None
    split: str | None = None  # train | val | test (set by the format or the splitter)

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, d: dict) -> Record:
        return cls(
            id=str(d["id"]),
            image=str(d["image"]),
            label=d.get("label"),
            group=str(d.get("group", d["id"])),
            camera=d.get("camera"),
            split=d.get("split"),
        )


@dataclass
class ScanProblem:
    """A sample a format found but cannot use (missing label, ...)."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class Sample:
    id: str  # unique, includes the camera for A2D2
    image: np.ndarray  # uint8 RGB (H, W, 3) at dataset.image_size
    mask: np.ndarray | None  # uint8 class indices (H, W); ignore_index for void; None if unlabelled


@runtime_checkable
class SampleSource(Protocol):
    """Random-access, picklable decoded samples of one split (what engines index)."""

    class_map: ClassMap
    ids: list[str]

    def __len__(self) -> int: ...

    def __getitem__(self, i: int) -> Sample: ...
