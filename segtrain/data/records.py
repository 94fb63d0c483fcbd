"""One dataset sample as it is listed on disk, before anything is decoded.

Formats turn a root directory into Records; manifests store them as JSONL; sources
decode them into :class:`~segtrain.data.source.Sample`. Paths are relative to the
dataset root so a manifest moves with its data (local disk, S3, a SageMaker channel).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


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
