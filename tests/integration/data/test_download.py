"""`segtrain data download dataset=a2d2` against a moto S3 server serving a generated
A2D2 archive: streamed extraction, selection without fetching skipped bytes, S3
destinations, resume after kill -9, checksums, clear errors, then prepare/train."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

from segtrain.data.download import download_a2d2, download_command
from segtrain.data.download_bench import make_a2d2_tree, make_archive, tree_files
from segtrain.data.download_sinks import STATE_NAME
from segtrain.data.tar_stream import iter_members
from segtrain.errors import DataError

moto_server_mod = pytest.importorskip("moto.server", reason="moto[server] is not installed")

BUCKET, KEY = "a2d2-public", "camera_lidar_semantic.tar"
CAMS = ("front_center", "front_left", "side_right")
PUBLIC = {"ACL": "public-read"}
REPO = Path(__file__).resolve().parents[3]


class Recorder:
    """WSGI middleware over moto: records each request's method, path, Range and bytes,
    and can slow down the archive's GETs (to kill a run mid-member)."""

    def __init__(self, app) -> None:
        self.app = app
        self.log: list[dict] = []
        self.delay = 0.0

    def __call__(self, environ, start_response):
        entry = {
            "method": environ["REQUEST_METHOD"],
            "path": environ.get("PATH_INFO", ""),
            "range": environ.get("HTTP_RANGE"),
            "bytes": 0,
        }
        self.log.append(entry)
        if self.delay and entry["path"].endswith(KEY) and entry["method"] == "GET":
            time.sleep(self.delay)
        for chunk in self.app(environ, start_response):
            entry["bytes"] += len(chunk)
            yield chunk

    def archive_ranges(self) -> list[tuple[int, int]]:
        out = []
        for e in self.log:
            if e["method"] == "GET" and e["path"] == f"/{BUCKET}/{KEY}" and e["range"]:
                a, b = e["range"].removeprefix("bytes=").split("-")
                out.append((int(a), int(b) + 1))
        return out


@pytest.fixture(scope="module")
def server():
    from werkzeug.serving import make_server

    app = Recorder(moto_server_mod.DomainDispatcherApplication(moto_server_mod.create_backend_app))
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_port}", app
    srv.shutdown()


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """Generated once: the A2D2 tree (3 sequences x 6 frames x 3 cameras) and its tar."""
    work = tmp_path_factory.mktemp("a2d2-archive")
    tree = make_a2d2_tree(work / "src", sequences=3, frames=4, cameras=CAMS, size=(192, 288))
    # one member above S3's 5 MiB part size: the s3:// path uploads it in parts
    big = next((tree / "camera_lidar_semantic").glob("*/lidar/cam_front_center/*.npz"))
    big.write_bytes(os.urandom(6 << 20))
    tar = make_archive(tree, work / KEY)
    return tree, tar


@pytest.fixture
def s3(server, archive, monkeypatch):
    url, rec = server
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")).close()
    for k in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(k, raising=False)
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": url,
    }.items():
        monkeypatch.setenv(k, v)
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    client.upload_file(str(archive[1]), BUCKET, KEY, ExtraArgs={"ACL": "public-read"})
    client.create_bucket(Bucket="mine")
    rec.log.clear()
    rec.delay = 0.0
    return client, rec


def _cfg(compose_config, dst, *extra: str):
    return compose_config(
        "data",
        [
            "dataset=a2d2",
            f"dst={dst}",
            f"dataset.download.bucket={BUCKET}",
            "dataset.download.chunk_size=1048576",
            "dataset.download.parallel=4",
            "dataset.download.readahead=0",
            "dataset.download.read_through=0",
            "dataset.download.buffer_size=5242880",
            "dataset.image_size=[64,96]",
            *extra,
        ],
    )


def _members(tar: Path):
    blob = tar.read_bytes()
    return [m for m in iter_members(lambda o, n: blob[o : o + n]) if m.kind == "file"]


def _expected(tree: Path, cams, folders=("camera", "label")) -> dict[str, int]:
    out = {}
    for rel, size in tree_files(tree).items():
        parts = rel.split("/")
        if len(parts) == 2 or (parts[2] in folders and parts[3][4:] in cams):
            out[rel] = size
    return out


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except FileNotFoundError:  # renamed to its final name meanwhile
        return 0


def _overlaps(ranges, m) -> bool:
    return any(s < m.data_offset + m.size and e > m.data_offset for s, e in ranges)


def test_local_selection_is_byte_identical_and_skipped_bytes_are_not_requested(
    s3, archive, compose_config, tmp_path, capsys
):
    tree, tar = archive
    _, rec = s3
    dst = tmp_path / "a2d2"
    cfg = _cfg(compose_config, dst, "dataset.cameras=[front_center,side_right]")
    stats = download_command(cfg)
    want = _expected(tree, ("front_center", "side_right"))
    got = tree_files(dst)
    got.pop("manifest.jsonl", None)
    got.pop("manifest.meta.json", None)
    assert {k for k in got if not k.startswith("manifest")} == set(want)
    for rel in want:
        assert (dst / rel).read_bytes() == (tree / rel).read_bytes(), rel
    ranges = rec.archive_ranges()
    for m in _members(tar):
        if m.name not in want:
            assert not _overlaps(ranges, m), f"bytes of skipped {m.name} were requested"
    assert stats.files == len(want) and stats.bytes == sum(want.values())
    assert stats.per_camera["front_center"][0] == sum("cam_front_center" in k for k in want)
    assert stats.skipped_members == len(_members(tar)) - len(want)
    out = capsys.readouterr().out
    assert f"{len(want)} files" in out and "per camera" in out and "manifest" in out
    assert (dst / "manifest.jsonl").is_file() and (dst / STATE_NAME).is_file()
    assert not [p for p in dst.rglob(".tmp-*")]
    # a second run fetches nothing
    rec.log.clear()
    again = download_a2d2(cfg.dataset, str(dst), progress=False)
    assert again.files == stats.files and rec.archive_ranges() == []


def test_s3_destination_multipart_and_no_local_disk(s3, archive, compose_config, tmp_path):
    client, _ = s3
    tree, _ = archive
    before = set(tmp_path.rglob("*"))
    cfg = _cfg(compose_config, "s3://mine/a2d2", "dataset.download.include=[camera,label,lidar]")
    stats = download_command(cfg)
    want = _expected(tree, ("front_center",), ("camera", "label", "lidar"))
    objs = {
        o["Key"][len("a2d2/") :]: o["Size"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket="mine", Prefix="a2d2/")
        for o in page["Contents"]
    }
    objs.pop(STATE_NAME)
    assert objs == want and stats.files == len(want)
    big = max(want, key=want.get)
    assert want[big] > 5 << 20
    body = client.get_object(Bucket="mine", Key=f"a2d2/{big}")["Body"].read()
    assert body == (tree / big).read_bytes()
    assert "-" in client.head_object(Bucket="mine", Key=f"a2d2/{big}")["ETag"]  # multipart
    assert client.list_multipart_uploads(Bucket="mine").get("Uploads", []) == []
    assert set(tmp_path.rglob("*")) == before


def _digests(tree: Path, rels, corrupt: str | None = None) -> str:
    lines = []
    for rel in rels:
        d = hashlib.md5((tree / rel).read_bytes()).hexdigest()
        lines.append(f"{'0' * 32 if rel == corrupt else d}  {rel}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("dest", ["local", "s3"])
def test_checksum_mismatch_fails_with_the_member_name(s3, archive, compose_config, tmp_path, dest):
    client, _ = s3
    tree, _ = archive
    want = _expected(tree, ("front_center",), ("camera", "label", "lidar"))
    bad = max(want, key=want.get)  # the multipart member: its upload must be aborted
    sums = tmp_path / "md5sums.txt"
    sums.write_text(_digests(tree, want, corrupt=bad))
    dst = str(tmp_path / "out") if dest == "local" else "s3://mine/x"
    cfg = _cfg(
        compose_config, dst, f"dataset.download.checksums={sums}",
        "dataset.download.include=[camera,label,lidar]",
    )  # fmt: skip
    with pytest.raises(DataError, match=f"{Path(bad).name}: checksum mismatch"):
        download_command(cfg)
    if dest == "local":
        assert not (tmp_path / "out" / bad).exists()
        assert not list((tmp_path / "out").rglob(".tmp-*"))
    else:
        assert client.list_multipart_uploads(Bucket="mine").get("Uploads", []) == []
        keys = [o["Key"] for o in client.list_objects_v2(Bucket="mine").get("Contents", [])]
        assert f"x/{bad}" not in keys
    sums.write_text(_digests(tree, want))  # the right list: it completes
    assert download_command(cfg).files == len(want)


@pytest.mark.slow  # two CLI processes, one slowed down on purpose: ~1 min
def test_kill_9_mid_member_then_rerun_completes_without_refetching(s3, archive, tmp_path):
    tree, tar = archive
    _, rec = s3
    dst = tmp_path / "a2d2"
    args = [
        sys.executable, "-m", "segtrain.cli", "data", "download", "dataset=a2d2", f"dst={dst}",
        f"dataset.download.bucket={BUCKET}", "dataset.download.chunk_size=16384",
        "dataset.download.parallel=1", "dataset.download.readahead=0",
        "dataset.download.read_through=0", "dataset.download.state_every_s=0",
        "dataset.download.prepare=false", "dataset.download.include=[camera,label,lidar]",
        "hydra.run.dir=" + str(tmp_path / "run"),
    ]  # fmt: skip
    rec.delay = 0.02
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    partial = []
    while time.time() < deadline and proc.poll() is None:
        partial = [p for p in dst.rglob(".tmp-*") if _size(p) > 0]
        done = [p for p in dst.rglob("*.npz")]
        if partial and done:  # mid-member, with finished members before it
            break
        time.sleep(0.01)
    assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file()}
    finished = {f for f in finished if not Path(f).name.startswith(".")}
    assert finished and partial
    rec.delay = 0.0
    rec.log.clear()
    out = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    want = _expected(tree, ("front_center",), ("camera", "label", "lidar"))
    got = tree_files(dst)
    assert got == want
    for rel in want:
        assert (dst / rel).read_bytes() == (tree / rel).read_bytes()
    ranges = rec.archive_ranges()
    members = {m.name: m for m in _members(tar)}
    refetched = [f for f in finished if _overlaps(ranges, members[f])]
    assert refetched == [], refetched
    assert not list(dst.rglob(".tmp-*"))
    assert f"{len(want)} files" in out.stdout


def test_mirror_source_copies_the_selection(s3, archive, compose_config, tmp_path):
    client, _ = s3
    tree, _ = archive
    client.create_bucket(Bucket="mirror")
    for rel in tree_files(tree):
        client.upload_file(str(tree / rel), "mirror", f"extracted/{rel}", ExtraArgs=PUBLIC)
    dst = tmp_path / "m"
    cfg = _cfg(
        compose_config, dst, "dataset.download.source=mirror", "dataset.download.bucket=mirror",
        "dataset.download.key=extracted",
    )  # fmt: skip
    stats = download_command(cfg)
    want = _expected(tree, ("front_center",))
    got = {k: v for k, v in tree_files(dst).items() if not k.startswith("manifest")}
    assert got == want and stats.files == len(want)


def _put_tar(client, key: str, files: dict[str, bytes]) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    client.put_object(Bucket=BUCKET, Key=key, Body=buf.getvalue(), ACL="public-read")


def test_bad_inputs_are_one_clear_message(s3, archive, compose_config, tmp_path):
    client, _ = s3
    dst = tmp_path / "o"
    cases = {
        "dataset.download.bucket=no-such-bucket": "no-such-bucket",
        "dataset.download.key=nope.tar": "nope.tar: no such object",
        "dataset.download.key=other.tar": "not an A2D2 camera_lidar_semantic archive",
        "dataset.download.key=cut.tar": "truncated",
    }
    _put_tar(client, "other.tar", {f"images/{i}.jpg": b"x" * 100 for i in range(60)})
    blob = archive[1].read_bytes()
    client.put_object(Bucket=BUCKET, Key="cut.tar", Body=blob[: len(blob) // 2 + 100], **PUBLIC)
    for override, message in cases.items():
        with pytest.raises(DataError, match=message):
            download_a2d2(_cfg(compose_config, dst, override).dataset, str(dst), progress=False)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if not os.access(ro, os.W_OK):  # root ignores permissions
            with pytest.raises(DataError, match="not writable"):
                download_a2d2(_cfg(compose_config, ro).dataset, str(ro / "x"), progress=False)
    finally:
        ro.chmod(0o700)
    assert not list(dst.rglob(".tmp-*"))
