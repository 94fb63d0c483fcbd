"""The few S3 operations the launcher and the docker-free runner need (boto3 client).

Kept to prefix semantics SageMaker itself uses: a channel's ``S3Prefix`` selects every
object whose key starts with the prefix, and files land at their key relative to it.
The endpoint comes from boto3's usual configuration (``AWS_ENDPOINT_URL`` included), so
tests point everything at a moto server.
"""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

from segtrain.errors import LaunchError

from ._request import split_s3_uri


def put_bytes(s3: Any, uri: str, data: bytes, kms_key: str | None = None) -> None:
    bucket, key = split_s3_uri(uri)
    extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key} if kms_key else {}
    _call(uri, s3.put_object, Bucket=bucket, Key=key, Body=data, **extra)


def get_bytes(s3: Any, uri: str) -> bytes:
    bucket, key = split_s3_uri(uri)
    return _call(uri, s3.get_object, Bucket=bucket, Key=key)["Body"].read()


def exists(s3: Any, uri: str) -> bool:
    bucket, key = split_s3_uri(uri)
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except Exception:
        return False
    return True


def list_keys(s3: Any, uri: str) -> list[str]:
    bucket, prefix = split_s3_uri(uri)
    keys: list[str] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in _call(uri, lambda: list(paginator.paginate(Bucket=bucket, Prefix=prefix))):
        keys += [obj["Key"] for obj in page.get("Contents", [])]
    return keys


def download_prefix(s3: Any, uri: str, dest: Path) -> int:
    """Every object under ``uri`` into ``dest`` at its key relative to the prefix."""
    bucket, prefix = split_s3_uri(uri)
    count = 0
    for key in list_keys(s3, uri):
        rel = key[len(prefix) :].lstrip("/")
        if not rel or key.endswith("/"):
            continue
        target = (dest / rel).resolve()
        if dest.resolve() not in target.parents:
            raise LaunchError(f"s3://{bucket}/{key} would land outside {dest}")
        target.parent.mkdir(parents=True, exist_ok=True)
        _call(uri, s3.download_file, bucket, key, str(target))
        count += 1
    return count


def upload_dir(s3: Any, src: Path, uri: str, kms_key: str | None = None) -> int:
    """Every file under ``src`` to ``uri`` (a prefix), keeping relative paths."""
    bucket, prefix = split_s3_uri(uri)
    prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    extra = (
        {"ExtraArgs": {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key}}
        if kms_key
        else {}
    )
    count = 0
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        key = prefix + path.relative_to(src).as_posix()
        _call(uri, s3.upload_file, str(path), bucket, key, **extra)
        count += 1
    return count


def tar_dir(src: Path, dest: Path) -> Path:
    """``tar.gz`` of a directory's contents (what SageMaker does with /opt/ml/model)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest, "w:gz") as tar:
        for path in sorted(src.rglob("*")):
            tar.add(path, arcname=path.relative_to(src).as_posix(), recursive=False)
    return dest


def extract(archive: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(dest, filter="data")


def _call(uri: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn(*args, **kwargs)
    except ClientError as err:
        error = err.response.get("Error", {})
        raise LaunchError(
            f"S3 request for {uri} failed: {error.get('Code')}: {error.get('Message')} "
            "(check hydra.launcher.bucket, the region and your credentials)"
        ) from None
    except BotoCoreError as err:
        raise LaunchError(f"S3 request for {uri} failed: {err}") from None
