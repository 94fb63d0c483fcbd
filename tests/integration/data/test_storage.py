"""S3 sync against a real moto HTTP endpoint: skip-unchanged, round trips, clear errors."""

from __future__ import annotations

import os

import boto3
import numpy as np
import pytest

from segtrain.data import storage
from segtrain.data.storage import download, parse_s3_uri, s3_etag, upload
from segtrain.errors import ConfigError, DataError

SMALL_PART = 5 * 1024 * 1024  # S3's minimum part size keeps the multipart test quick


@pytest.fixture(autouse=True)
def small_parts(monkeypatch):
    monkeypatch.setattr(storage, "PART_SIZE", SMALL_PART)


@pytest.fixture
def bucket(moto_endpoint) -> str:
    boto3.client("s3").create_bucket(Bucket="segdata")
    return "segdata"


@pytest.fixture
def dataset_dir(tmp_path):
    root = tmp_path / "prepared"
    (root / "camera_lidar_semantic/seq/camera").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(5):
        (root / f"camera_lidar_semantic/seq/camera/f{i}.png").write_bytes(rng.bytes(1000 + i))
    (root / "manifest.jsonl").write_text('{"id": "a"}\n')
    (root / ".segtrain.lock").write_text("")  # never synced
    (root / "big.npy").write_bytes(rng.bytes(SMALL_PART + 123))  # multipart upload
    return root


def test_upload_twice_sends_nothing_the_second_time(bucket, dataset_dir, capsys):
    first = upload(dataset_dir, f"s3://{bucket}/a2d2/v1")
    assert first.sent == 7 and first.skipped == 0
    assert first.bytes_sent == sum(
        p.stat().st_size
        for p in dataset_dir.rglob("*")
        if p.is_file() and p.name != ".segtrain.lock"
    )
    second = upload(dataset_dir, f"s3://{bucket}/a2d2/v1")
    assert second.sent == 0 and second.skipped == 7
    assert second.line().startswith("nothing to transfer")
    keys = {o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]}
    assert "a2d2/v1/big.npy" in keys and "a2d2/v1/.segtrain.lock" not in keys


def test_changed_file_is_sent_again(bucket, dataset_dir):
    upload(dataset_dir, f"s3://{bucket}/d")
    (dataset_dir / "manifest.jsonl").write_text('{"id": "b"}\n')  # same size, new content
    again = upload(dataset_dir, f"s3://{bucket}/d")
    assert again.sent == 1 and again.files == ["manifest.jsonl"]


def test_local_etag_matches_what_s3_reports(bucket, dataset_dir):
    upload(dataset_dir, f"s3://{bucket}/d")
    s3 = boto3.client("s3")
    for name in ("big.npy", "manifest.jsonl"):
        etag = s3.head_object(Bucket=bucket, Key=f"d/{name}")["ETag"].strip('"')
        assert etag == s3_etag(dataset_dir / name)
    assert s3_etag(dataset_dir / "big.npy").endswith("-2")


def test_download_round_trip_and_skip(bucket, dataset_dir, tmp_path):
    upload(dataset_dir, f"s3://{bucket}/d")
    out = tmp_path / "copy"
    first = download(f"s3://{bucket}/d", out)
    assert first.sent == 7
    for p in dataset_dir.rglob("*"):
        if p.is_file() and p.name != ".segtrain.lock":
            assert (out / p.relative_to(dataset_dir)).read_bytes() == p.read_bytes()
    assert download(f"s3://{bucket}/d", out).sent == 0
    assert not [p for p in out.rglob("*.tmp")]


def test_missing_bucket(moto_endpoint, dataset_dir):
    with pytest.raises(DataError, match="s3://nobucket/x: bucket does not exist"):
        upload(dataset_dir, "s3://nobucket/x")


def test_empty_prefix_download(bucket, tmp_path):
    with pytest.raises(DataError, match="no objects under this prefix"):
        download(f"s3://{bucket}/nothing", tmp_path / "x")


def test_no_credentials(moto_endpoint, dataset_dir, monkeypatch, tmp_path):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(DataError, match="no AWS credentials found"):
        upload(dataset_dir, "s3://segdata/x")


@pytest.mark.parametrize("uri", ["segdata/x", "s3://", "s3://bad bucket/x"])
def test_bad_uris(uri):
    with pytest.raises(ConfigError, match="s3://bucket"):
        parse_s3_uri(uri)


def test_fixture_points_boto3_at_the_local_server(moto_endpoint):
    assert os.environ["AWS_ENDPOINT_URL"] == moto_endpoint
    assert moto_endpoint.startswith("http://127.0.0.1:")
