"""Tar header parsing and range planning against archives written by :mod:`tarfile`."""

from __future__ import annotations

import io
import tarfile

import pytest

from segtrain.data.tar_stream import RangeFetcher, TarFormatError, iter_members

LONG = "camera_lidar_semantic/20180807_145028/camera/cam_front_center/" + "x" * 120 + ".png"


def _archive(fmt: int, files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        d = tarfile.TarInfo("camera_lidar_semantic/emptydir")
        d.type = tarfile.DIRTYPE
        tar.addfile(d)
    return buf.getvalue()


FILES = {
    "camera_lidar_semantic/class_list.json": b"{}",
    # 109 characters: ustar splits it into prefix + name
    "camera_lidar_semantic/20180807_145028/camera/cam_front_center/"
    "20180807145028_camera_frontcenter_000001617.png": bytes(range(256)) * 40,
    LONG: b"long name" * 100,
    "empty.txt": b"",
}


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_members_match_tarfile(fmt: int) -> None:
    files = dict(FILES)
    if fmt == tarfile.USTAR_FORMAT:
        files.pop(LONG)  # ustar cannot store a 120-character file name
    blob = _archive(fmt, files)
    members = list(iter_members(lambda o, n: blob[o : o + n], archive_size=len(blob)))
    got = {
        m.name: blob[m.data_offset : m.data_offset + m.size] for m in members if m.kind == "file"
    }
    assert got == files
    assert [m.name for m in members if m.kind == "dir"] == ["camera_lidar_semantic/emptydir"]
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        assert [m.name for m in members] == tar.getnames()


def test_corrupt_header_and_truncation_are_named() -> None:
    blob = bytearray(_archive(tarfile.PAX_FORMAT, FILES))
    bad = bytes(blob)
    bad = bad[:10] + b"Z" + bad[11:]
    with pytest.raises(TarFormatError, match="offset 0"):
        list(iter_members(lambda o, n: bad[o : o + n], archive_size=len(bad)))
    members = list(iter_members(lambda o, n: bytes(blob[o : o + n]), archive_size=len(blob)))
    cut = members[1].end  # the archive stops right after the second member
    with pytest.raises(TarFormatError, match="truncated"):
        list(iter_members(lambda o, n: bytes(blob[o : o + n]), archive_size=cut))
    with pytest.raises(TarFormatError, match="no valid tar header"):
        list(iter_members(lambda o, n: b"not a tar".ljust(n, b"!"), archive_size=10_000))


class Recorder:
    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        self.ranges: list[tuple[int, int]] = []

    def __call__(self, start: int, end: int) -> bytes:
        self.ranges.append((start, end))
        return self.blob[start:end]


def test_fetcher_skips_unwanted_data_and_splits_wanted_runs() -> None:
    files = {f"d/f{i}.bin": bytes([i]) * (3000 + 700 * i) for i in range(8)}
    blob = _archive(tarfile.PAX_FORMAT, files)
    rec = Recorder(blob)
    wanted = {"d/f2.bin", "d/f3.bin", "d/f7.bin"}
    got = {}
    with RangeFetcher(rec, len(blob), chunk=1024, parallel=4) as f:
        for m in iter_members(f.read, archive_size=len(blob)):
            if m.name in wanted:
                got[m.name] = b"".join(f.stream(m.data_offset, m.size, piece=700))
    members = list(iter_members(lambda o, n: blob[o : o + n], archive_size=len(blob)))
    skipped = [m for m in members if m.name not in wanted]
    assert got == {k: files[k] for k in wanted}
    for m in skipped:  # no requested byte lies inside a skipped member's data
        for s, e in rec.ranges:
            assert e <= m.data_offset or s >= m.data_offset + m.size, (m.name, s, e)
    assert max(e - s for s, e in rec.ranges) <= 1024
    # a bigger gap than read_through is a jump, a smaller one is read through
    rec2 = Recorder(blob)
    with RangeFetcher(rec2, len(blob), chunk=1 << 20, read_through=1 << 20) as f:
        assert f.read(0, 10) == blob[:10]
        assert f.read(5000, 10) == blob[5000:5010]
    assert rec2.ranges == [(0, 10), (10, 5010)]
    # read-ahead follows wanted data only: a header read alone asks for its 512 bytes
    rec3 = Recorder(blob)
    with RangeFetcher(rec3, len(blob), chunk=1 << 20, readahead=4096) as f:
        f.read(0, 512)
        assert b"".join(f.stream(512, 100)) == blob[512:612]
    assert rec3.ranges == [(0, 512), (512, 612 + 4096)]


def test_fetcher_reports_short_reads() -> None:
    short = RangeFetcher(lambda s, e: b"x" * (e - s - 1), 4096, chunk=512)
    with short as f, pytest.raises(TarFormatError, match="truncated stream"):
        f.read(0, 100)
    with (
        RangeFetcher(lambda s, e: b"x" * (e - s), 100) as f,
        pytest.raises(TarFormatError, match="truncated archive"),
    ):
        f.read(0, 200)
