"""``segtrain data download dataset=a2d2 dst=...``: the public A2D2 data, streamed.

The original workflow copied the whole ``camera_lidar_semantic.tar`` to local disk,
untarred it and uploaded the tree again: twice the archive's size on disk and three
passes over the bytes. Here the archive is read as a sequence of members straight from
its bucket (:mod:`segtrain.data.tar_stream`): each member header says where the member
sits and how big it is, so unselected members (lidar, other cameras, other sequences)
are jumped over with range requests, selected ones are fetched with parallel range
requests and written to a local folder or an ``s3://`` prefix as they arrive
(:mod:`segtrain.data.download_sinks`). Progress state next to the destination lets a
killed run continue from where it stopped, with no finished file fetched again.
The ``mirror`` source copies the same selection from an extracted tree instead.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from segtrain.data.download_sinks import STATE_NAME, LocalSink, S3Sink, make_sink
from segtrain.data.formats.a2d2 import CAMERAS, SEQUENCE_RE, SUBDIR
from segtrain.data.storage import _translate, parse_s3_uri
from segtrain.data.tar_stream import BLOCK, RangeFetcher, TarFormatError, iter_members
from segtrain.errors import ConfigError, DataError

log = logging.getLogger("segtrain.data.download")
STATE_VERSION = 1
#: after this many file members without one in an A2D2 sequence folder: not A2D2
NOT_A2D2_AFTER = 50


# ---------------------------------------------------------------- selection


@dataclass(frozen=True)
class Selection:
    """Which members of the A2D2 tree are kept: cameras x folders x sequences."""

    cameras: tuple[str, ...]
    include: tuple[str, ...]
    sequences: tuple[str, ...] = ()

    @classmethod
    def from_cfg(cls, ds: Any) -> Selection:
        cams = tuple(str(c) for c in ds.cameras)
        bad = [c for c in cams if c not in CAMERAS]
        if bad:
            raise ConfigError(f"dataset.cameras has unknown camera(s) {bad}; expected {CAMERAS}")
        dl = ds.download
        seqs = tuple(str(s) for s in dl.sequences)
        bad = [s for s in seqs if not SEQUENCE_RE.match(s)]
        if bad:
            raise ConfigError(f"dataset.download.sequences {bad}: expected YYYYMMDD_hhmmss names")
        return cls(cams, tuple(str(i) for i in dl.include), seqs)

    def wants(self, parts: Parts) -> bool:
        if parts.sequence is None:
            return parts.top_level  # class_list.json and other files beside the scenes
        if self.sequences and parts.sequence not in self.sequences:
            return False
        return parts.folder in self.include and parts.camera in self.cameras


@dataclass(frozen=True)
class Parts:
    sequence: str | None
    folder: str | None
    camera: str | None
    top_level: bool


def classify(name: str) -> Parts:
    """``camera_lidar_semantic/<seq>/<folder>/cam_<camera>/<file>`` -> its parts."""
    parts = name.split("/")
    if parts[0] == SUBDIR:
        parts = parts[1:]
    if len(parts) == 1:
        return Parts(None, None, None, True)
    if not SEQUENCE_RE.match(parts[0]):
        return Parts(None, None, None, False)
    folder = parts[1] if len(parts) >= 3 else None
    camera = parts[2][4:] if len(parts) >= 4 and parts[2].startswith("cam_") else None
    return Parts(parts[0], folder, camera, False)


# ---------------------------------------------------------------- stats


@dataclass
class Stats:
    """Counts of the extracted tree (all runs) and of this run's traffic."""

    files: int = 0
    bytes: int = 0
    present: int = 0  # already complete at the destination: not fetched again
    skipped_members: int = 0
    skipped_bytes: int = 0
    per_camera: dict[str, list[int]] = field(default_factory=dict)
    per_sequence: dict[str, list[int]] = field(default_factory=dict)
    cameras_seen: list[str] = field(default_factory=list)
    # this run only
    fetched_bytes: int = 0
    requests: int = 0
    written_bytes: int = 0
    seconds: float = 0.0

    def add(self, parts: Parts, size: int, present: bool) -> None:
        self.files += 1
        self.bytes += size
        self.present += int(present)
        self.written_bytes += 0 if present else size
        for table, key in ((self.per_camera, parts.camera), (self.per_sequence, parts.sequence)):
            row = table.setdefault(key or "(top level)", [0, 0])
            row[0] += 1
            row[1] += size

    def skip(self, parts: Parts, size: int) -> None:
        self.skipped_members += 1
        self.skipped_bytes += size
        if parts.camera and parts.camera not in self.cameras_seen:
            self.cameras_seen.append(parts.camera)

    def persistent(self) -> dict:
        d = asdict(self)
        for k in ("fetched_bytes", "requests", "written_bytes", "seconds"):
            d.pop(k)
        return d

    @classmethod
    def restore(cls, d: dict | None) -> Stats:
        return cls(**d) if d else cls()

    def lines(self, dst: str) -> list[str]:
        mb = self.fetched_bytes / 1e6
        rate = mb / self.seconds if self.seconds > 0 else 0.0
        out = [
            f"downloaded A2D2 to {dst}: {self.files} files ({self.bytes / 1e6:.1f} MB); "
            f"{self.files - self.present} written this run, {self.present} already there; "
            f"skipped {self.skipped_members} members ({self.skipped_bytes / 1e6:.1f} MB) "
            f"not selected; fetched {mb:.1f} MB in {self.requests} requests, "
            f"{self.seconds:.1f} s ({rate:.1f} MB/s)"
        ]
        for title, table in (("camera", self.per_camera), ("sequence", self.per_sequence)):
            cells = ", ".join(f"{k} {v[0]} ({v[1] / 1e6:.1f} MB)" for k, v in sorted(table.items()))
            out.append(f"  per {title}: {cells}")
        return out


# ---------------------------------------------------------------- progress


class Progress:
    """A rich bar (bytes, rate, ETA) on a terminal; a plain line every 10 s elsewhere."""

    def __init__(self, total: int, what: str, enabled: bool | None = None) -> None:
        self.total, self.what = total, what
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.t0 = self.last = time.perf_counter()
        self._bar = None
        if self.enabled:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )
            from rich.progress import (
                Progress as RichProgress,
            )

            self._bar = RichProgress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(what, total=total)

    def update(self, done: int, stats: Stats) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done)
            return
        now = time.perf_counter()
        if now - self.last >= 10:
            self.last = now
            el = now - self.t0
            eta = (self.total - done) / (done / el) if done else float("nan")
            log.info(
                "%s: %.1f/%.1f MB (%.0f %%), %d files, fetched %.1f MB/s, ETA %.0f s",
                self.what, done / 1e6, self.total / 1e6, 100 * done / max(1, self.total),
                stats.files, stats.fetched_bytes / 1e6 / el, eta,
            )  # fmt: skip

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


# ---------------------------------------------------------------- source access


def source_client(dl: Any) -> Any:
    """boto3 S3 client for the source bucket: unsigned for the public one, any endpoint."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    extra = {"signature_version": UNSIGNED} if dl.unsigned else {}
    cfg = Config(
        retries={"max_attempts": 8, "mode": "adaptive"},
        max_pool_connections=max(10, int(dl.parallel) + 2),
        region_name=str(dl.region),
        **extra,
    )
    return boto3.session.Session().client("s3", config=cfg)


def _payer(dl: Any) -> dict:
    return {"RequestPayer": "requester"} if dl.requester_pays else {}


def _source_error(exc: Exception, uri: str) -> DataError:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NotFound"):
            return DataError(
                f"{uri}: no such object; check dataset.download.bucket and dataset.download.key"
            )
        if code in ("PreconditionFailed", "412"):
            return DataError(f"{uri}: the object changed during the download; run it again")
    if isinstance(exc, TarFormatError):
        return DataError(f"{uri}: {exc}")
    return _translate(exc, uri)


class Checksums:
    """A published ``<hex digest>  <path>`` list (md5 or sha256, told by the length)."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    @classmethod
    def load(cls, where: str | None, client: Any) -> Checksums:
        if not where:
            return cls({})
        try:
            if where.startswith("s3://"):
                bucket, key = parse_s3_uri(where)
                text = client.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
            else:
                text = Path(where).read_text()
        except OSError as exc:
            raise DataError(f"dataset.download.checksums={where}: cannot read it ({exc})") from None
        except Exception as exc:
            raise _source_error(exc, where) from None
        table = {}
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            digest, _, path = line.strip().partition(" ")
            path = path.strip().lstrip("*")
            if len(digest) not in (32, 64) or not path:
                raise DataError(f"{where} line {n}: expected '<md5|sha256 hex>  <path>'")
            table[path.removeprefix("./")] = digest.lower()
        return cls(table)

    def verifier(self, name: str) -> tuple[Callable[[Any], None] | None, str]:
        digest = self.table.get(name) or self.table.get(name.removeprefix(f"{SUBDIR}/"))
        if digest is None:
            return None, "md5"
        algo = "md5" if len(digest) == 32 else "sha256"

        def check(hasher: Any) -> None:
            got = hasher.hexdigest()
            if got != digest:
                raise DataError(
                    f"{name}: checksum mismatch ({algo} {got}, the source publishes {digest}); "
                    "nothing was written for it"
                )

        return check, algo


# ---------------------------------------------------------------- the archive


@dataclass
class Run:
    """What one download run works with (shared by the archive and mirror paths)."""

    dl: Any
    selection: Selection
    sink: LocalSink | S3Sink
    client: Any
    checksums: Checksums
    stats: Stats
    state: dict
    progress_bar: bool | None = None

    def save(self, **changes: Any) -> None:
        self.state.update(changes, stats=self.stats.persistent())
        self.sink.save_state(self.state)


@contextmanager
def _named_errors(uri: str, progress: Progress) -> Iterator[None]:
    """Any failure below becomes one DataError naming ``uri``; the bar is closed."""
    try:
        yield
    except DataError:
        raise
    except Exception as exc:
        raise _source_error(exc, uri) from None
    finally:
        progress.close()


def _not_a2d2(uri: str, names: list[str]) -> DataError:
    return DataError(
        f"{uri} is not an A2D2 camera_lidar_semantic archive: no member lies in a "
        f"<YYYYMMDD_hhmmss>/<camera|label|lidar>/cam_<name>/ folder; first members: {names[:8]}"
    )


def extract_archive(run: Run) -> None:
    """Stream the tar: jump over unselected members, write the selected ones."""
    dl = run.dl
    uri = f"s3://{dl.bucket}/{dl.key}"
    try:
        head = run.client.head_object(Bucket=dl.bucket, Key=dl.key, **_payer(dl))
    except Exception as exc:
        raise _source_error(exc, uri) from None
    size, etag = int(head["ContentLength"]), head.get("ETag", "")
    identity = {"bucket": dl.bucket, "key": dl.key, "size": size, "etag": etag}
    if run.state.get("archive") != identity:
        if run.state.get("archive"):
            log.info("the archive differs from the one in the saved state; rescanning it")
        run.state.update(archive=identity, next_offset=0, complete=False, a2d2=False)
        run.stats = Stats()
    start = int(run.state.get("next_offset", 0))

    def fetch(s: int, e: int) -> bytes:
        r = run.client.get_object(
            Bucket=dl.bucket, Key=dl.key, Range=f"bytes={s}-{e - 1}", IfMatch=etag, **_payer(dl)
        )
        return r["Body"].read()

    parallel = max(1, min(int(dl.parallel), int(dl.buffer_size) // int(dl.chunk_size)))
    fetcher = RangeFetcher(fetch, size, dl.chunk_size, parallel, dl.readahead, dl.read_through)
    progress = Progress(size, f"A2D2 {dl.key}", run.progress_bar)
    seen_names: list[str] = []
    last_save = time.perf_counter()
    with _named_errors(uri, progress), fetcher:
        for m in iter_members(fetcher.read, start, size):
            run.stats.fetched_bytes = fetcher.bytes_requested
            run.stats.requests = fetcher.requests
            progress.update(m.header_offset, run.stats)
            if m.kind != "file":
                continue
            parts = classify(m.name)
            if not run.state.get("a2d2"):
                seen_names.append(m.name)
                if parts.sequence is not None:
                    run.state["a2d2"] = True
                elif len(seen_names) >= NOT_A2D2_AFTER:
                    raise _not_a2d2(uri, seen_names)
            if m.data_offset + m.size > size:
                raise DataError(
                    f"{uri}: member {m.name} needs {m.size} bytes at offset "
                    f"{m.data_offset} but the archive ends at {size}: truncated"
                )
            if not run.selection.wants(parts):
                run.stats.skip(parts, m.size)
            elif run.sink.present(m.name, m.size):
                run.stats.add(parts, m.size, present=True)
            else:
                fetcher.need(m.end + BLOCK)  # the next header comes with the tail
                check, algo = run.checksums.verifier(m.name)
                pieces = fetcher.stream(m.data_offset, m.size, int(dl.chunk_size))
                run.sink.write(m.name, pieces, check, algo)
                run.stats.add(parts, m.size, present=False)
            if time.perf_counter() - last_save >= float(dl.state_every_s):
                run.save(next_offset=m.end)
                last_save = time.perf_counter()
        run.stats.fetched_bytes = fetcher.bytes_requested
        run.stats.requests = fetcher.requests
    if not run.state.get("a2d2"):
        raise _not_a2d2(uri, seen_names)
    run.state["next_offset"] = size


# ---------------------------------------------------------------- the mirror


def _mirror_objects(run: Run) -> Iterator[tuple[str, int, str]]:
    dl = run.dl
    base = str(dl.key).strip("/")
    base = f"{base}/" if base else ""
    pages = run.client.get_paginator("list_objects_v2").paginate(
        Bucket=dl.bucket, Prefix=base, **_payer(dl)
    )
    for page in pages:
        for obj in page.get("Contents", []):
            rel = obj["Key"][len(base) :]
            if rel and not rel.endswith("/"):
                yield rel, int(obj["Size"]), obj.get("ETag", "").strip('"')


def copy_mirror(run: Run) -> None:
    """Copy the selected files of an extracted tree (one object per file)."""
    dl = run.dl
    uri = f"s3://{dl.bucket}/{str(dl.key).strip('/')}"
    run.stats = Stats()  # the listing is cheap: counts are rebuilt every run
    try:
        objects = list(_mirror_objects(run))
    except Exception as exc:
        raise _source_error(exc, uri) from None
    if not objects:
        raise DataError(f"{uri}: no objects under this prefix; check dataset.download.key")
    if not any(classify(rel).sequence for rel, _, _ in objects[: NOT_A2D2_AFTER * 20]):
        raise _not_a2d2(uri, [r for r, _, _ in objects])
    run.state["a2d2"] = True
    total = sum(s for _, s, _ in objects)
    progress = Progress(total, f"A2D2 mirror {uri}", run.progress_bar)
    done = 0
    with _named_errors(uri, progress):
        for rel, size, etag in objects:
            parts = classify(rel)
            done += size
            if not run.selection.wants(parts):
                run.stats.skip(parts, size)
            elif run.sink.present(rel, size):
                run.stats.add(parts, size, present=True)
            else:
                check, algo = run.checksums.verifier(rel)
                if check is None and etag and "-" not in etag:  # single-part ETag = MD5
                    check, algo = Checksums({rel: etag}).verifier(rel)
                key = f"{str(dl.key).strip('/')}/{rel}".lstrip("/")
                body = run.client.get_object(Bucket=dl.bucket, Key=key, **_payer(dl))["Body"]
                run.sink.write(rel, body.iter_chunks(int(dl.chunk_size)), check, algo)
                run.stats.add(parts, size, present=False)
                run.stats.fetched_bytes += size
                run.stats.requests += 1
            progress.update(done, run.stats)


# ---------------------------------------------------------------- the command


def _selection_key(sel: Selection, dl: Any) -> dict:
    return {
        "source": str(dl.source),
        "cameras": sorted(sel.cameras),
        "include": sorted(sel.include),
        "sequences": sorted(sel.sequences),
    }


def download_a2d2(ds: Any, dst: str, progress: bool | None = None) -> Stats:
    """Fetch the selection of ``ds`` (cameras, ``ds.download``) into ``dst``; returns counts."""
    dl = ds.download
    selection = Selection.from_cfg(ds)
    sink = make_sink(str(dst), int(dl.buffer_size))
    sink.start()
    client = source_client(dl)
    state = sink.load_state() or {}
    want = _selection_key(selection, dl)
    if state.get("version") != STATE_VERSION or state.get("selection") != want:
        state = {"version": STATE_VERSION, "selection": want}
    elif state.get("complete"):
        stats = Stats.restore(state.get("stats"))
        log.info("%s already holds this selection (state %s); nothing to fetch", dst, STATE_NAME)
        return stats
    checksums = Checksums.load(dl.checksums, client)
    run = Run(
        dl, selection, sink, client, checksums, Stats.restore(state.get("stats")), state, progress
    )
    t0 = time.perf_counter()
    if str(dl.source) == "archive":
        extract_archive(run)
    else:
        copy_mirror(run)
    run.stats.seconds = time.perf_counter() - t0
    if run.stats.files == 0 or not any(k != "(top level)" for k in run.stats.per_camera):
        raise DataError(
            f"s3://{dl.bucket}/{dl.key}: no member matched the selection (cameras "
            f"{list(selection.cameras)}, folders {list(selection.include)}, sequences "
            f"{list(selection.sequences) or 'all'}); cameras seen: {run.stats.cameras_seen}"
        )
    run.save(complete=True)
    return run.stats


def download_command(cfg: Any) -> Stats:
    """``segtrain data download dataset=a2d2 [dst=<dir>|s3://...]``, then the manifest."""
    from omegaconf import OmegaConf
    from rich.console import Console

    from segtrain.data.catalog import build_catalog

    ds = cfg.dataset
    if str(ds.format) != "a2d2":
        raise ConfigError(
            f"segtrain data download fetches the public A2D2 data (dataset=a2d2); "
            f"dataset.format={ds.format}: copy an extracted tree with src=s3://bucket/prefix"
        )
    dst = str(cfg.get("dst") or ds.root)
    stats = download_a2d2(ds, dst)
    console = Console(highlight=False, soft_wrap=True)
    for line in stats.lines(dst):
        console.print(line)
    if dst.startswith("s3://") or not ds.download.prepare:
        if dst.startswith("s3://"):
            console.print(
                f"manifest: not built for an s3:// destination; train from it with "
                f"`segtrain data download src={dst} dst=<dir>` then `segtrain data prepare`"
            )
        return stats
    local = OmegaConf.create(OmegaConf.to_container(ds, resolve=True))
    local.root = dst
    cat = build_catalog(local, force=False)
    counts = cat.split.counts if cat.split else ""
    console.print(f"manifest {cat.manifest}: {len(cat.records)} samples {counts}")
    return stats
