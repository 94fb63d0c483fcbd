"""Manifests (one JSON line per sample) and leak-free train/val/test splits.

Listing 40k files and pairing them with labels takes a while on network disks and is
the same every run, so ``prepare`` (or the first ``open_split``) writes it down once.
Splits are assigned by group (an A2D2 sequence, a CamVid clip) so that frames of one
drive, which are near-duplicates, never sit on both sides of a split. A sidecar
``<manifest>.meta.json`` records what the manifest was built from; a manifest whose
settings no longer match the config is rebuilt rather than silently reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from segtrain.config import SplitConfig
from segtrain.data.records import Record
from segtrain.errors import ConfigError, DataError
from segtrain.runtime.checkpoints import atomic_write_text

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")
MANIFEST_VERSION = 1


@dataclass
class SplitReport:
    how: str  # given | group | frame
    note: str  # one human sentence (fallbacks are explained here)
    counts: dict[str, int]
    groups: dict[str, list[str]]


def split_settings(split_cfg: Any) -> Any:
    """``dataset.split`` completed from its schema (``SplitConfig`` holds every default)."""
    return OmegaConf.merge(OmegaConf.structured(SplitConfig), split_cfg)


def assign_splits(records: list[Record], split_cfg: Any, given: bool = False) -> SplitReport:
    """Set ``record.split`` in place; deterministic for a given config.

    ``by=given`` keeps the format's own splits (CamVid). ``by=group`` puts whole groups in
    one split: explicit ``val_groups``/``test_groups`` win, else the *last* groups in
    sorted order go to val (then test), like the original notebook (last 3 of 23 A2D2
    sequences). Too few groups -> a seeded per-frame split, and the note says so.
    """
    s = split_settings(split_cfg)
    by, val_f, test_f = str(s.by), float(s.val_fraction), float(s.test_fraction)
    if by not in ("given", "group", "frame"):
        raise ConfigError(f"dataset.split.by={by!r}; expected 'group', 'frame' or 'given'")
    if not (0 <= val_f < 1 and 0 <= test_f < 1 and val_f + test_f < 1):
        raise ConfigError(
            f"dataset.split.val_fraction={val_f} and test_fraction={test_f} must be in [0, 1) "
            "and leave something to train on"
        )
    if not records:
        raise DataError("no samples to split")
    if by == "given":
        return _given_split(records, given)
    if by == "group" and (s.val_groups or s.test_groups):
        return _explicit_group_split(records, list(s.val_groups), list(s.test_groups))
    if by == "group":
        report = _last_groups_split(records, val_f, test_f)
        if report is not None:
            return report
        n_groups = len({r.group for r in records})
        note = (
            f"only {n_groups} group(s) for a train/val{'/test' if test_f else ''} split: "
            "fell back to a per-frame split (frames of one sequence may appear in "
            "several splits)"
        )
        log.warning(note)
    else:
        note = "per-frame split (dataset.split.by=frame)"
    return _frame_split(records, val_f, test_f, int(s.seed), note)


def _given_split(records: list[Record], given: bool) -> SplitReport:
    missing = [r.id for r in records if r.split not in SPLITS]
    if not given or missing:
        raise ConfigError(
            "dataset.split.by=given but this dataset's layout does not define splits "
            f"(e.g. {missing[:3]}); use dataset.split.by=group"
        )
    return _report("given", "splits as given by the dataset's own layout", records)


def _by_group(records: list[Record], val: set[str], test: set[str]) -> None:
    for r in records:
        r.split = "val" if r.group in val else "test" if r.group in test else "train"


def _explicit_group_split(
    records: list[Record], val_groups: list[str], test_groups: list[str]
) -> SplitReport:
    groups = sorted({r.group for r in records})
    unknown = sorted(set(val_groups + test_groups) - set(groups))
    if unknown:
        raise ConfigError(
            f"dataset.split.val_groups/test_groups name unknown groups {unknown}; "
            f"known groups: {groups[:10]}{'...' if len(groups) > 10 else ''}"
        )
    both = sorted(set(val_groups) & set(test_groups))
    if both:
        raise ConfigError(f"groups {both} are in both val_groups and test_groups")
    _by_group(records, set(val_groups), set(test_groups))
    return _report("group", "explicit val/test groups", records)


def _last_groups_split(records: list[Record], val_f: float, test_f: float) -> SplitReport | None:
    """The last groups (sorted) to val, the ones before them to test; None when there are
    too few groups for every requested split to get one."""
    groups = sorted({r.group for r in records})
    need = 1 + (val_f > 0) + (test_f > 0)
    if len(groups) < need or len(groups) <= 1:
        return None
    n_val = max(1, round(val_f * len(groups))) if val_f > 0 else 0
    n_test = max(1, round(test_f * len(groups))) if test_f > 0 else 0
    if n_val + n_test >= len(groups):
        return None
    val_set = set(groups[len(groups) - n_val :]) if n_val else set()
    test_set = set(groups[len(groups) - n_val - n_test : len(groups) - n_val])
    _by_group(records, val_set, test_set)
    return _report(
        "group", f"{len(groups)} groups: last {n_val} (sorted) to val, {n_test} to test", records
    )


def _frame_split(
    records: list[Record], val_f: float, test_f: float, seed: int, note: str
) -> SplitReport:
    """A seeded permutation of the id-sorted frames: the first to val, then test."""
    order = sorted(range(len(records)), key=lambda i: records[i].id)
    perm = np.random.default_rng(seed).permutation(len(order))
    n = len(records)
    n_val = max(1, math.ceil(val_f * n)) if val_f > 0 else 0
    n_test = max(1, math.ceil(test_f * n)) if test_f > 0 else 0
    if n_val + n_test >= n:
        raise DataError(
            f"only {n} sample(s): too few for val_fraction={val_f}, test_fraction={test_f}"
        )
    for rank, p in enumerate(perm):
        r = records[order[p]]
        r.split = "val" if rank < n_val else "test" if rank < n_val + n_test else "train"
    return _report("frame", note, records)


def _report(how: str, note: str, records: Sequence[Record]) -> SplitReport:
    counts = Counter(r.split for r in records)
    groups: dict[str, set[str]] = {s: set() for s in SPLITS}
    for r in records:
        groups.setdefault(r.split or "train", set()).add(r.group)
    return SplitReport(
        how, note, {s: counts.get(s, 0) for s in SPLITS}, {s: sorted(g) for s, g in groups.items()}
    )


def write_manifest(path: Path, records: Iterable[Record], meta: dict) -> None:
    """JSONL + sidecar meta, each written atomically."""
    lines = "".join(json.dumps(r.to_json(), sort_keys=True) + "\n" for r in records)
    atomic_write_text(path, lines)
    atomic_write_text(meta_path(path), json.dumps(meta, indent=2, sort_keys=True) + "\n")


def meta_path(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".jsonl") + ".meta.json")


def read_manifest(path: Path) -> list[Record]:
    records = []
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise DataError(f"manifest not found: {path}") from None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(Record.from_json(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path}:{n}: not a manifest record ({exc})") from None
    ids = Counter(r.id for r in records)
    dups = [i for i, c in ids.items() if c > 1]
    if dups:
        raise DataError(f"{path}: duplicate sample ids {dups[:3]}")
    return records


def read_meta(path: Path) -> dict | None:
    try:
        return json.loads(meta_path(path).read_text())
    except (FileNotFoundError, ValueError):
        return None


def manifest_settings(dataset_cfg: Any) -> dict:
    """The config values a manifest depends on (a change means: rebuild it)."""
    split = dataset_cfg.split
    return {
        "version": MANIFEST_VERSION,
        "format": str(dataset_cfg.format),
        "cameras": list(dataset_cfg.cameras),
        "on_error": str(dataset_cfg.on_error),
        "split": {
            "by": str(split.by),
            "val_fraction": float(split.val_fraction),
            "test_fraction": float(split.test_fraction),
            "val_groups": list(split.val_groups or []),
            "test_groups": list(split.test_groups or []),
            "seed": int(split.seed),
        },
    }


def settings_hash(settings: dict) -> str:
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def cap_records(records: list[Record], n: int | None) -> list[Record]:
    """At most ``n`` records, evenly spread over the (id-sorted) list so every group keeps
    some frames; deterministic."""
    if n is None or n >= len(records):
        return records
    if n <= 0:
        raise ConfigError(f"dataset.num_samples={n}; expected a positive number or null")
    idx = np.linspace(0, len(records) - 1, n).round().astype(int)
    return [records[i] for i in idx]
