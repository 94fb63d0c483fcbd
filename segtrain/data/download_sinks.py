"""Where downloaded members go: a local folder or an ``s3://`` prefix.

Both sinks take a member as an iterator of byte pieces and make it visible under its
final name only when every byte has arrived and been verified: locally through
:func:`~segtrain.runtime.checkpoints.atomic_write` (temp name + rename), in S3 as one
``put_object`` for a small member or a multipart upload completed only when whole and
aborted on any failure. Each also keeps the downloader's progress state beside the
data (``.segtrain-download.json``) and says which members are already there.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from segtrain.data.storage import _client, _translate, list_remote, parse_s3_uri
from segtrain.errors import DataError
from segtrain.runtime.checkpoints import TMP_PREFIX, atomic_write, atomic_write_text

log = logging.getLogger(__name__)
STATE_NAME = ".segtrain-download.json"
#: called with the finished member's hash object; raises DataError on a mismatch
Verify = Callable[[Any], None] | None
DISK_ERRNOS = {errno.ENOSPC: "no space left", errno.EDQUOT: "disk quota exceeded"}
PERM_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)


def new_hasher(verify: Verify, algo: str) -> Any:
    return hashlib.new(algo, usedforsecurity=False) if verify else None


class LocalSink:
    """Members extracted under ``root`` (their archive paths kept)."""

    kind = "local"

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.uri = str(self.root)

    def start(self) -> None:
        """Create the root and remove temp files a killed run left behind."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f"{TMP_PREFIX}probe"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise self._os_error(exc, self.root) from None
        removed = 0
        for dirpath, _dirs, files in os.walk(self.root):
            for name in files:
                if name.startswith(TMP_PREFIX):
                    (Path(dirpath) / name).unlink(missing_ok=True)
                    removed += 1
        if removed:
            log.info("removed %d partial file(s) of an interrupted download", removed)

    def present(self, rel: str, size: int) -> bool:
        p = self.root / rel
        return p.is_file() and p.stat().st_size == size

    def write(
        self, rel: str, pieces: Iterator[bytes], verify: Verify = None, algo: str = "md5"
    ) -> None:
        final = self.root / rel
        hasher = new_hasher(verify, algo)

        def fill(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                for piece in pieces:
                    fh.write(piece)
                    if hasher is not None:
                        hasher.update(piece)
            if verify is not None:
                verify(hasher)  # raises before the rename: nothing appears under rel

        try:
            atomic_write(final, fill)
        except OSError as exc:
            raise self._os_error(exc, final) from None

    def _os_error(self, exc: OSError, path: Path) -> DataError:
        if exc.errno in DISK_ERRNOS:
            return DataError(f"{path}: {DISK_ERRNOS[exc.errno]} on the destination ({exc})")
        if exc.errno in PERM_ERRNOS:
            return DataError(f"{path}: the destination is not writable ({exc.strerror})")
        return DataError(f"{path}: cannot write ({exc})")

    def load_state(self) -> dict | None:
        p = self.root / STATE_NAME
        try:
            return json.loads(p.read_text()) if p.is_file() else None
        except ValueError:
            log.warning("%s is unreadable; starting the download from the beginning", p)
            return None

    def save_state(self, state: dict) -> None:
        try:
            atomic_write_text(self.root / STATE_NAME, json.dumps(state, indent=1))
        except OSError as exc:
            raise self._os_error(exc, self.root / STATE_NAME) from None

    def used_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())


class S3Sink:
    """Members written under ``s3://bucket/prefix/`` without touching local disk."""

    kind = "s3"

    def __init__(self, uri: str, part_size: int) -> None:
        self.uri = uri
        self.bucket, self.prefix = parse_s3_uri(uri)
        self.part_size = max(5 << 20, int(part_size))
        self.client = _client()
        self.existing: dict[str, int] = {}

    def key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def start(self) -> None:
        """Check the bucket, list what is there, abort uploads a killed run left open."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
            self.existing = {
                k: v[0] for k, v in list_remote(self.client, self.bucket, self.prefix).items()
            }
            aborted = self.abort_open_uploads()
        except DataError:
            raise
        except Exception as exc:
            raise _translate(exc, self.uri) from None
        if aborted:
            log.info("aborted %d unfinished multipart upload(s) of an interrupted run", aborted)

    def open_uploads(self) -> list[tuple[str, str]]:
        base = f"{self.prefix}/" if self.prefix else ""
        out = []
        for page in self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=base
        ):
            out += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
        return out

    def abort_open_uploads(self) -> int:
        uploads = self.open_uploads()
        for key, upload_id in uploads:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        return len(uploads)

    def present(self, rel: str, size: int) -> bool:
        return self.existing.get(rel) == size

    def write(
        self, rel: str, pieces: Iterator[bytes], verify: Verify = None, algo: str = "md5"
    ) -> None:
        key = self.key(rel)
        hasher = new_hasher(verify, algo)
        buf = bytearray()
        upload_id: str | None = None
        parts: list[dict] = []
        try:
            for piece in pieces:
                buf += piece
                if hasher is not None:
                    hasher.update(piece)
                while len(buf) >= self.part_size:
                    if upload_id is None:
                        upload_id = self.client.create_multipart_upload(
                            Bucket=self.bucket, Key=key
                        )["UploadId"]
                    part, buf = bytes(buf[: self.part_size]), buf[self.part_size :]
                    parts.append(self._part(key, upload_id, len(parts) + 1, part))
            if verify is not None:
                verify(hasher)
            if upload_id is None:
                self.client.put_object(Bucket=self.bucket, Key=key, Body=bytes(buf))
            else:
                if buf:
                    parts.append(self._part(key, upload_id, len(parts) + 1, bytes(buf)))
                self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
                upload_id = None
        except BaseException as exc:
            if upload_id is not None:
                try:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=key, UploadId=upload_id
                    )
                except Exception:  # the next run aborts what is left open
                    log.warning(
                        "could not abort the multipart upload of s3://%s/%s", self.bucket, key
                    )
            if isinstance(exc, DataError) or not isinstance(exc, Exception):
                raise
            raise _translate(exc, f"s3://{self.bucket}/{key}") from None

    def _part(self, key: str, upload_id: str, number: int, data: bytes) -> dict:
        r = self.client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
        )
        return {"PartNumber": number, "ETag": r["ETag"]}

    def load_state(self) -> dict | None:
        if STATE_NAME not in self.existing:
            return None
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.key(STATE_NAME))["Body"]
            return json.loads(body.read())
        except ValueError:
            return None
        except Exception as exc:
            raise _translate(exc, f"s3://{self.bucket}/{self.key(STATE_NAME)}") from None

    def save_state(self, state: dict) -> None:
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self.key(STATE_NAME), Body=json.dumps(state).encode()
            )
        except Exception as exc:
            raise _translate(exc, f"s3://{self.bucket}/{self.key(STATE_NAME)}") from None

    def used_bytes(self) -> int:
        return 0


def make_sink(dst: str, part_size: int) -> LocalSink | S3Sink:
    return S3Sink(dst, part_size) if dst.startswith("s3://") else LocalSink(dst)
