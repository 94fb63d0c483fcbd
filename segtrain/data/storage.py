"""Local directory <-> ``s3://bucket/prefix`` sync, and single objects: THE S3 helper.

Used by ``segtrain data upload/download`` (prepared datasets and caches) and by the
SageMaker launcher (job inputs, channels, checkpoints, output archives), so both share
one client setup, one error translation and one notion of "unchanged".

Why not ``aws s3 sync``: it decides by size and modification time, which re-sends
everything after a fresh ``prepare`` or checkout. Here an object is skipped when its
size *and* checksum match: the local checksum is computed the way S3 computes an ETag
(MD5 for single-part uploads, MD5-of-part-MD5s ``-N`` for multipart ones with our fixed
part size), so no per-object HEAD request is needed. Transfers go through boto3's
transfer manager (parallel multipart), with botocore's adaptive retries for transient
errors, several files in flight at once, and any S3-compatible endpoint via
``AWS_ENDPOINT_URL``. Every function takes an optional boto3 ``client`` (the launcher
passes the one of its session); without one, a fresh client is made.

A prefix is a directory: ``s3://b/data`` covers ``data/...``, never ``data2/...``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segtrain.errors import ConfigError, DataError
from segtrain.runtime.checkpoints import atomic_write

log = logging.getLogger(__name__)

PART_SIZE = 16 * 1024 * 1024  # multipart threshold and chunk size; part of the checksum
#: never synced: lock files, temp files of interrupted writes
EXCLUDE_PREFIXES = (".segtrain.lock",)
EXCLUDE_SUFFIXES = (".tmp", ".lock")


@dataclass
class SyncSummary:
    direction: str
    src: str
    dst: str
    sent: int = 0
    skipped: int = 0
    bytes_sent: int = 0
    bytes_skipped: int = 0
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)

    def line(self) -> str:
        verb = "uploaded" if self.direction == "upload" else "downloaded"
        if self.sent == 0:
            return (
                f"nothing to transfer: all {self.skipped} file(s) "
                f"({_mb(self.bytes_skipped)}) already match at {self.dst}"
            )
        return (
            f"{verb} {self.sent} file(s) ({_mb(self.bytes_sent)}) to {self.dst}, skipped "
            f"{self.skipped} unchanged ({_mb(self.bytes_skipped)}) in {self.seconds:.1f} s"
        )


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/key`` -> ``("bucket", "some/key")``, the key as written."""
    if not uri.startswith("s3://"):
        raise ConfigError(f"{uri!r} is not an s3:// URI; expected s3://bucket[/prefix]")
    bucket, _, key = uri[5:].partition("/")
    if not bucket or not all(c.isalnum() or c in "-._" for c in bucket):
        raise ConfigError(f"{uri!r}: bad bucket name {bucket!r}; expected s3://bucket[/prefix]")
    return bucket, key


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix")`` (no trailing slash)."""
    bucket, key = split_s3_uri(uri)
    return bucket, key.strip("/")


def s3_etag(path: Path, part_size: int | None = None) -> str:
    """The ETag S3 gives ``path`` when uploaded with ``part_size`` multipart settings."""
    part_size = part_size or PART_SIZE
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if size < part_size:
            return hashlib.md5(fh.read(), usedforsecurity=False).hexdigest()
        digests = []
        while chunk := fh.read(part_size):
            digests.append(hashlib.md5(chunk, usedforsecurity=False).digest())
    combined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
    return f"{combined}-{len(digests)}"


def _client(client: Any | None = None) -> Any:
    if client is not None:
        return client
    import boto3
    from botocore.config import Config

    cfg = Config(retries={"max_attempts": 8, "mode": "adaptive"}, max_pool_connections=32)
    # a fresh session: boto3's default one caches credentials resolved earlier in the
    # process. boto3 honours AWS_ENDPOINT_URL (moto, MinIO, other S3-compatible stores).
    return boto3.session.Session().client("s3", config=cfg)


def _kms_args(kms_key: str | None) -> dict[str, str]:
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key} if kms_key else {}


def _transfer_config():
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=PART_SIZE,
        multipart_chunksize=PART_SIZE,
        max_concurrency=8,
        use_threads=True,
    )


def _translate(exc: Exception, uri: str) -> DataError:
    """botocore's exceptions -> one readable DataError."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return DataError(
            f"{uri}: no AWS credentials found. Set AWS_PROFILE or AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY (or run on an instance/role that has them)"
        )
    if isinstance(exc, EndpointConnectionError):
        return DataError(
            f"{uri}: cannot reach the S3 endpoint ({exc}); check AWS_ENDPOINT_URL / network"
        )
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchBucket", "404", "NotFound"):
            return DataError(
                f"{uri}: bucket does not exist (or is not visible to these "
                "credentials); create it or fix the URI"
            )
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return DataError(
                f"{uri}: access denied ({code}); check the credentials and the bucket policy"
            )
        return DataError(f"{uri}: S3 error {code}: {exc}")
    return DataError(f"{uri}: {exc}")


def list_remote(client, bucket: str, prefix: str) -> dict[str, tuple[int, str]]:
    """relative key -> (size, etag) for every object under the prefix."""
    out: dict[str, tuple[int, str]] = {}
    base = f"{prefix}/" if prefix else ""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
        for obj in page.get("Contents", []):
            out[obj["Key"][len(base) :]] = (int(obj["Size"]), obj["ETag"].strip('"'))
    return out


def list_local(root: Path) -> dict[str, Path]:
    files = {}
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(root).as_posix()
        name = p.name
        if (
            name.startswith(EXCLUDE_PREFIXES)
            or name.endswith(EXCLUDE_SUFFIXES)
            or (name.startswith(".") and ".tmp" in name)
        ):
            continue
        files[rel] = p
    return files


def _same(local: Path, remote: tuple[int, str] | None) -> bool:
    if remote is None or not local.is_file():
        return False
    size, etag = remote
    return local.stat().st_size == size and s3_etag(local) == etag


def _remote_listing(client: Any, bucket: str, prefix: str, uri: str) -> dict[str, tuple[int, str]]:
    try:
        client.head_bucket(Bucket=bucket)
        return list_remote(client, bucket, prefix)
    except Exception as exc:  # botocore raises many types; all become one DataError
        raise _translate(exc, uri) from None


def _transfer(
    summary: SyncSummary, todo: list[tuple[str, Any]], send: Any, uri: str, workers: int
) -> SyncSummary:
    """Run ``send(item) -> bytes moved`` over ``todo``, several at once; fill ``summary``."""
    t0 = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for (rel, _), n in zip(todo, pool.map(send, todo), strict=True):
                summary.sent += 1
                summary.bytes_sent += n
                summary.files.append(rel)
    except Exception as exc:
        raise _translate(exc, uri) from None
    summary.seconds += time.perf_counter() - t0
    return summary


def upload(
    src: str | Path,
    dst: str,
    workers: int = 8,
    *,
    client: Any | None = None,
    kms_key: str | None = None,
    allow_empty: bool = False,
) -> SyncSummary:
    """Every file under ``src`` to the prefix ``dst``, skipping unchanged ones.

    ``kms_key`` encrypts what is sent (SSE-KMS); ``allow_empty`` accepts a directory with
    no files (a job's checkpoint dir before its first checkpoint).
    """
    src_dir = Path(src)
    if not src_dir.is_dir():
        raise DataError(f"upload source {src_dir} is not a directory")
    bucket, prefix = parse_s3_uri(dst)
    client = _client(client)
    t0 = time.perf_counter()
    remote = _remote_listing(client, bucket, prefix, dst)
    files = list_local(src_dir)
    if not files and not allow_empty:
        raise DataError(f"upload source {src_dir} holds no files")
    summary = SyncSummary("upload", str(src_dir), dst)
    todo = []
    for rel, path in files.items():
        if _same(path, remote.get(rel)):
            summary.skipped += 1
            summary.bytes_skipped += path.stat().st_size
        else:
            todo.append((rel, path))
    tc = _transfer_config()
    extra = {"ExtraArgs": _kms_args(kms_key)} if kms_key else {}

    def send(item: tuple[str, Path]) -> int:
        rel, path = item
        key = f"{prefix}/{rel}" if prefix else rel
        client.upload_file(str(path), bucket, key, Config=tc, **extra)
        return path.stat().st_size

    summary.seconds = time.perf_counter() - t0
    return _transfer(summary, todo, send, dst, workers)


def download(
    src: str,
    dst: str | Path,
    workers: int = 8,
    *,
    client: Any | None = None,
    allow_empty: bool = False,
) -> SyncSummary:
    """Every object under the prefix ``src`` into ``dst``, skipping unchanged files.

    A file appears complete or not at all (written beside, then renamed); a key that
    would land outside ``dst`` (``..`` parts) is refused. ``allow_empty``: an empty
    prefix (a fresh checkpoint URI) is no error.
    """
    bucket, prefix = parse_s3_uri(src)
    dst_dir = Path(dst)
    client = _client(client)
    t0 = time.perf_counter()
    remote = _remote_listing(client, bucket, prefix, src)
    remote = {k: v for k, v in remote.items() if k and not k.endswith("/")}
    if not remote and not allow_empty:
        raise DataError(f"{src}: no objects under this prefix; nothing to download")
    summary = SyncSummary("download", src, str(dst_dir))
    todo = []
    for rel, meta in sorted(remote.items()):
        local = dst_dir / rel
        if dst_dir.resolve() not in local.resolve().parents:
            raise DataError(f"{src}: the object {rel!r} would land outside {dst_dir}")
        if _same(local, meta):
            summary.skipped += 1
            summary.bytes_skipped += meta[0]
        else:
            todo.append((rel, meta[0]))
    tc = _transfer_config()

    def fetch(item: tuple[str, int]) -> int:
        rel, size = item
        key = f"{prefix}/{rel}" if prefix else rel
        atomic_write(
            dst_dir / rel, lambda tmp: client.download_file(bucket, key, str(tmp), Config=tc)
        )
        return size

    summary.seconds = time.perf_counter() - t0
    return _transfer(summary, todo, fetch, src, workers)


def put_bytes(
    uri: str, data: bytes, *, client: Any | None = None, kms_key: str | None = None
) -> None:
    """One object at ``uri`` (a full key)."""
    bucket, key = split_s3_uri(uri)
    try:
        _client(client).put_object(Bucket=bucket, Key=key, Body=data, **_kms_args(kms_key))
    except Exception as exc:
        raise _translate(exc, uri) from None


def get_bytes(uri: str, *, client: Any | None = None) -> bytes:
    bucket, key = split_s3_uri(uri)
    try:
        return _client(client).get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        raise _translate(exc, uri) from None


def exists(uri: str, *, client: Any | None = None) -> bool:
    """Whether the object ``uri`` exists (a 403 counts as absent, as S3 answers it for a
    missing key to callers without ``s3:ListBucket``)."""
    from botocore.exceptions import ClientError

    bucket, key = split_s3_uri(uri)
    try:
        _client(client).head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "403", "NoSuchKey", "NotFound"):
            return False
        raise _translate(exc, uri) from None
    except Exception as exc:
        raise _translate(exc, uri) from None
    return True


def sync_command(cfg: Any, direction: str) -> SyncSummary:
    """``segtrain data upload src=<dir> dst=s3://...`` / ``download src=s3://... dst=<dir>``.

    Without ``src`` (upload) or ``dst`` (download) the dataset root is used.
    """
    from rich.console import Console

    src, dst = cfg.get("src"), cfg.get("dst")
    if direction == "upload":
        src = src or str(cfg.dataset.root)
        if not dst:
            raise ConfigError("segtrain data upload needs dst=s3://bucket/prefix")
        summary = upload(src, str(dst))
    else:
        dst = dst or str(cfg.dataset.root)
        if not src:
            raise ConfigError("segtrain data download needs src=s3://bucket/prefix")
        summary = download(str(src), dst)
    Console(highlight=False, soft_wrap=True).print(summary.line())
    return summary
