"""From a dataset root to a checked, split, written-down list of records.

``prepare`` and the first ``open_split`` both come here: make the data exist (generate
the synthetic set), scan the format, check every pair cheaply (file headers: readable,
same size), apply the ``on_error`` policy, assign splits and write the manifest. The
result is reused until the settings it was built from change.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segtrain.data.formats import ScanResult, get_format
from segtrain.data.io import image_size_of
from segtrain.data.locking import file_lock
from segtrain.data.manifest import (
    SplitReport,
    assign_splits,
    manifest_settings,
    meta_path,
    read_manifest,
    read_meta,
    settings_hash,
    write_manifest,
)
from segtrain.data.records import Record, ScanProblem
from segtrain.errors import ConfigError, DataError

log = logging.getLogger(__name__)


@dataclass
class Catalog:
    root: Path
    manifest: Path
    records: list[Record]
    rebuilt: bool
    split: SplitReport | None = None
    skipped: list[ScanProblem] = field(default_factory=list)
    written: bool = True


def dataset_root(dataset_cfg: Any) -> Path:
    root = dataset_cfg.root
    if not root:
        raise ConfigError("dataset.root is not set; expected the dataset directory")
    return Path(str(root)).expanduser()


def image_size_of_cfg(dataset_cfg: Any) -> tuple[int, int]:
    """``dataset.image_size`` as (height, width), checked."""
    size = list(dataset_cfg.image_size)
    if len(size) != 2 or min(int(v) for v in size) < 8:
        raise ConfigError(f"dataset.image_size={size}; expected [height, width], each >= 8")
    return int(size[0]), int(size[1])


def manifest_path(dataset_cfg: Any) -> Path:
    explicit = dataset_cfg.manifest
    return Path(str(explicit)) if explicit else dataset_root(dataset_cfg) / "manifest.jsonl"


def ensure_data(dataset_cfg: Any) -> Path:
    """The dataset root, generating the synthetic set first when that is the format."""
    root = dataset_root(dataset_cfg)
    fmt = get_format(str(dataset_cfg.format))
    ensure = getattr(fmt, "ensure", None)
    if ensure is not None:  # generated formats make (or refuse) their data themselves
        ensure(root, dataset_cfg)
    if not root.exists():
        raise DataError(
            f"dataset root {root} does not exist (dataset={dataset_cfg.name}, "
            f"format={dataset_cfg.format}). Set dataset.root=<path to the data>, or fetch a "
            f"prepared copy with `segtrain data download src=s3://... dst={root}`, then "
            f"`segtrain data prepare dataset={dataset_cfg.name} dataset.root={root}`"
        )
    if not root.is_dir():
        raise DataError(f"dataset root {root} is a file, expected a directory")
    return root


def check_record(root: Path, rec: Record) -> ScanProblem | None:
    """Why a record cannot be used (header-level check), or None when it looks fine.
    The problem names the file at fault once: the label when the label is bad."""
    sizes = []
    for rel in (rec.image, rec.label) if rec.label else (rec.image,):
        path = root / rel
        try:
            sizes.append(image_size_of(path))
        except DataError as exc:
            return ScanProblem(str(path), str(exc).removeprefix(f"{path}: "))
    if len(sizes) == 2 and sizes[0] != sizes[1]:
        (ih, iw), (lh, lw) = sizes
        return ScanProblem(
            str(root / rec.image),
            f"image is {iw}x{ih} but its label {rec.label} is {lw}x{lh} "
            "(width x height); they must match",
        )
    return None


def scan_and_check(root: Path, dataset_cfg: Any) -> tuple[ScanResult, list[ScanProblem]]:
    fmt = get_format(str(dataset_cfg.format))
    scan = fmt.scan(root, dataset_cfg)
    policy = str(dataset_cfg.on_error)
    if policy not in ("error", "skip"):
        raise ConfigError(f"dataset.on_error={policy!r}; expected 'error' or 'skip'")
    problems = list(scan.problems)
    good: list[Record] = []
    for rec in scan.records:
        problem = check_record(root, rec)
        if problem:
            problems.append(problem)
        else:
            good.append(rec)
    if problems and policy == "error":
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise DataError(
            f"{problems[0]}{more}. Fix the files, or set dataset.on_error=skip to leave "
            "such samples out (they are counted in the summary)"
        )
    if problems:
        log.warning(
            "skipped %d bad sample(s) (dataset.on_error=skip); first: %s",
            len(problems),
            problems[0],
        )
    if not good:
        raise DataError(f"{root}: no usable samples found (format={dataset_cfg.format})")
    scan.records = good
    return scan, problems


def build_catalog(dataset_cfg: Any, force: bool = False) -> Catalog:
    """Load the manifest when it matches the config, else (re)build and write it."""
    root = ensure_data(dataset_cfg)
    path = manifest_path(dataset_cfg)
    settings = manifest_settings(dataset_cfg)
    want = settings_hash(settings)
    with file_lock(path.with_name(f".{path.name}.lock"), create=path.parent.exists()):
        meta = read_meta(path)
        explicit = bool(dataset_cfg.manifest)
        if path.is_file() and meta is None:
            if explicit and not force:
                # a user-supplied manifest without our sidecar: trust it as is
                return Catalog(root, path, read_manifest(path), rebuilt=False)
            if not explicit:
                raise DataError(
                    f"{path} exists but segtrain did not write it (no {meta_path(path).name} "
                    "beside it); refusing to overwrite it. Set dataset.manifest to its path "
                    "to use it as the manifest, or to another path for segtrain's own"
                )
            log.warning("rebuilding %s (force=true): it was not written by segtrain", path)
        elif path.is_file() and not force:
            if meta.get("settings_hash") == want:
                recs = read_manifest(path)
                return Catalog(root, path, recs, rebuilt=False, split=_report_from_meta(meta))
            log.warning(
                "manifest %s was built with other settings (%s); rebuilding it",
                path,
                _changed_settings(meta.get("settings"), settings),
            )
        scan, problems = scan_and_check(root, dataset_cfg)
        report = assign_splits(scan.records, dataset_cfg.split, given=scan.has_given_splits)
        meta = {
            "settings": settings,
            "settings_hash": want,
            "split": {
                "how": report.how,
                "note": report.note,
                "counts": report.counts,
                "groups": report.groups,
            },
            "skipped": [str(p) for p in problems],
            "num_records": len(scan.records),
        }
        written = True
        try:
            write_manifest(path, scan.records, meta)
        except OSError as exc:
            written = False
            log.warning("cannot write manifest %s (%s); keeping it in memory", path, exc)
        log.info("manifest: %s samples %s (%s)", len(scan.records), report.counts, report.note)
        return Catalog(
            root, path, scan.records, rebuilt=True, split=report, skipped=problems, written=written
        )


def _changed_settings(old: Any, new: dict, prefix: str = "") -> str:
    """Which manifest settings differ, as ``key old -> new`` (nested keys dotted)."""
    old = old if isinstance(old, dict) else {}
    parts = []
    for key in sorted(new):
        if isinstance(new[key], dict):
            inner = _changed_settings(old.get(key), new[key], f"{prefix}{key}.")
            parts += [inner] if inner else []
        elif old.get(key) != new[key]:
            parts.append(f"{prefix}{key} {old.get(key)} -> {new[key]}")
    return ", ".join(parts)


def _report_from_meta(meta: dict) -> SplitReport | None:
    s = meta.get("split")
    if not s:
        return None
    return SplitReport(s["how"], s["note"], s["counts"], s["groups"])


def split_records(catalog: Catalog, split: str) -> list[Record]:
    if split not in ("train", "val", "test"):
        raise ConfigError(f"split={split!r}; expected 'train', 'val' or 'test'")
    recs = [r for r in catalog.records if r.split == split]
    if not recs:
        counts = Counter(r.split for r in catalog.records)
        raise DataError(
            f"the {split!r} split of {catalog.root} is empty (manifest {catalog.manifest}: "
            f"{dict(counts)}). Adjust dataset.split (val_fraction/test_fraction or "
            f"val_groups/test_groups) or check the data"
        )
    return sorted(recs, key=lambda r: r.id)
