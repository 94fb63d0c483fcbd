"""The ``download`` bench suite, and the generated A2D2-layout archive it (and the tests) use.

Measured against a moto S3 server on 127.0.0.1 (started here in its own process, so
this process's disk writes are only the downloader's): the streamed download of a
generated ``camera_lidar_semantic.tar`` against the original sample's way (one
``download_file`` of the tar, then :mod:`tarfile` extraction) in the same run, with peak
local disk for each; the local disk written for an ``s3://`` destination; and the
bytes fetched for a one-camera selection against the archive's size.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from segtrain.data.formats.a2d2 import SUBDIR

FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def make_a2d2_tree(
    root: Path,
    sequences: int = 3,
    frames: int = 6,
    cameras: tuple[str, ...] = ("front_center", "front_left", "side_right"),
    size: tuple[int, int] = (96, 144),
    lidar_bytes: int = 60_000,
    seed: int = 0,
) -> Path:
    """The real archive's tree under ``root/camera_lidar_semantic``: per sequence and camera
    ``camera/*.png`` + ``*.json``, ``label/*.png`` and ``lidar/*.npz`` (random points).

    Frames come from segtrain's synthetic scene generator (front centre); the other
    cameras get the same frames under their own names (enough for a download test).
    """
    from segtrain.data.formats.synthetic import generate

    cfg = OmegaConf.create(
        {
            "synth": {
                "num_sequences": sequences,
                "frames_per_sequence": frames,
                "height": size[0],
                "width": size[1],
                "seed": seed,
            }
        }
    )
    generate(root, cfg, force=True)
    (root / "synth.json").unlink()
    base = root / SUBDIR
    rng = np.random.default_rng(seed)
    for seq in sorted(p for p in base.iterdir() if p.is_dir()):
        for img in sorted((seq / "camera" / "cam_front_center").glob("*.png")):
            label = seq / "label" / "cam_front_center" / img.name.replace("_camera_", "_label_")
            for cam in cameras:
                tok = cam.replace("_", "")
                name = img.name.replace("frontcenter", tok)
                cam_png = seq / "camera" / f"cam_{cam}" / name
                cam_png.parent.mkdir(parents=True, exist_ok=True)
                if cam_png != img:
                    shutil.copyfile(img, cam_png)
                lab = seq / "label" / f"cam_{cam}" / name.replace("_camera_", "_label_")
                lab.parent.mkdir(parents=True, exist_ok=True)
                if lab != label:
                    shutil.copyfile(label, lab)
                info = {"cam_name": cam, "image_png": name, "cam_tstamp": int(rng.integers(1e9))}
                cam_png.with_suffix(".json").write_text(json.dumps(info, indent=4))
                npz = seq / "lidar" / f"cam_{cam}" / name.replace("_camera_", "_lidar_")
                npz = npz.with_suffix(".npz")
                npz.parent.mkdir(parents=True, exist_ok=True)
                pts = rng.standard_normal((max(1, lidar_bytes // 12), 3)).astype(np.float32)
                buf = io.BytesIO()
                np.savez(buf, points=pts)
                npz.write_bytes(buf.getvalue())
            if "front_center" not in cameras:
                img.unlink()
                label.unlink()
    return root


def make_archive(tree: Path, tar_path: Path) -> Path:
    """``tar cf`` of ``tree/camera_lidar_semantic`` (sorted, directories included)."""
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(tree / SUBDIR, arcname=SUBDIR, filter=_plain, recursive=False)
        for dirpath, dirs, files in sorted(os.walk(tree / SUBDIR)):
            dirs.sort()
            for name in sorted(dirs) + sorted(files):
                full = Path(dirpath) / name
                tar.add(full, arcname=str(full.relative_to(tree)), recursive=False, filter=_plain)
    return tar_path


def _plain(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def tree_files(root: Path) -> dict[str, int]:
    return {
        p.relative_to(root).as_posix(): p.stat().st_size
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }


# ---------------------------------------------------------------- bench


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def moto_process() -> Iterator[str]:
    """A moto server in a child process; the AWS env of this process points at it."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    saved = {k: os.environ.get(k) for k in [*FAKE_AWS, "AWS_ENDPOINT_URL"]}
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        os.environ.update(FAKE_AWS, AWS_ENDPOINT_URL=url)
        yield url
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.terminate()
        proc.wait(timeout=20)


class DiskWatch:
    """Peak bytes under a directory, sampled every 20 ms in a thread."""

    def __init__(self, root: Path) -> None:
        self.root, self.peak, self._stop = root, 0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _measure(self) -> None:
        total = 0
        for dirpath, _, files in os.walk(self.root):
            for f in files:
                with contextlib.suppress(OSError):  # renamed or removed while walking
                    total += os.stat(os.path.join(dirpath, f)).st_size
        self.peak = max(self.peak, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._measure()
            self._stop.wait(0.02)

    def __enter__(self) -> DiskWatch:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self._measure()


def _proc_write_bytes() -> int:
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


def _ds(bucket: str, cameras: list[str], include: list[str]) -> Any:
    from segtrain.config import DatasetConfig

    ds = OmegaConf.structured(DatasetConfig(name="a2d2", format="a2d2", cameras=cameras))
    ds.download.bucket = bucket
    ds.download.chunk_size = 1 << 20
    ds.download.readahead = 4 << 20
    ds.download.read_through = 0
    ds.download.buffer_size = 8 << 20
    ds.download.include = include
    return ds


def run_download_bench(cfg: Any) -> dict:
    """All figures of the suite in one run; ``{"suite": "download", "rows": [...]}``."""
    import boto3

    from segtrain.data.download import download_a2d2

    all_cams = ["front_center", "front_left", "side_right"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="segtrain-dl-bench-") as tmp, moto_process():
        work = Path(tmp)
        tree = make_a2d2_tree(
            work / "src", sequences=4, frames=10, cameras=tuple(all_cams), size=(384, 576),
            lidar_bytes=400_000,
        )  # fmt: skip
        tar = make_archive(tree, work / "camera_lidar_semantic.tar")
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="a2d2-bench")
        s3.create_bucket(Bucket="dst-bench")
        s3.upload_file(str(tar), "a2d2-bench", "camera_lidar_semantic.tar")
        archive = tar.stat().st_size
        everything = ["camera", "label", "lidar"]

        # the sample's way: the whole tar on disk, then tarfile extraction
        sample_dir = work / "sample"
        sample_dir.mkdir()
        t0 = time.perf_counter()
        with DiskWatch(sample_dir) as watch:
            s3.download_file("a2d2-bench", "camera_lidar_semantic.tar", str(sample_dir / "a.tar"))
            with tarfile.open(sample_dir / "a.tar") as tf:
                tf.extractall(sample_dir / "tree", filter="data")
        t_sample = time.perf_counter() - t0
        extracted = sum(tree_files(sample_dir / "tree").values())
        rows.append(
            _row(
                "sample: download_file + tarfile",
                "all",
                t_sample,
                watch.peak,
                extracted,
                archive,
                archive,
            )
        )
        shutil.rmtree(sample_dir)

        stream_dir = work / "stream"
        t0 = time.perf_counter()
        with DiskWatch(stream_dir.parent / "stream") as watch:
            st = download_a2d2(_ds("a2d2-bench", all_cams, everything), str(stream_dir), False)
        t_stream = time.perf_counter() - t0
        rows.append(
            _row(
                "segtrain stream -> local",
                "all",
                t_stream,
                watch.peak,
                st.bytes,
                archive,
                st.fetched_bytes,
            )
        )
        shutil.rmtree(stream_dir)

        w0 = _proc_write_bytes()
        t0 = time.perf_counter()
        st = download_a2d2(_ds("a2d2-bench", all_cams, everything), "s3://dst-bench/a2d2", False)
        t_s3 = time.perf_counter() - t0
        local = _proc_write_bytes() - w0 if w0 >= 0 else -1
        rows.append(
            _row(
                "segtrain stream -> s3://", "all", t_s3, local, st.bytes, archive, st.fetched_bytes
            )
        )

        one_dir = work / "one"
        t0 = time.perf_counter()
        with DiskWatch(one_dir.parent / "one") as watch:
            st = download_a2d2(
                _ds("a2d2-bench", ["front_center"], ["camera", "label"]), str(one_dir), False
            )
        rows.append(_row("segtrain stream -> local", "front_center camera+label", time.perf_counter() - t0, watch.peak, st.bytes, archive, st.fetched_bytes))  # fmt: skip
    for r in rows:
        r["time_vs_sample"] = round(r["seconds"] / t_sample, 3)
    return {
        "suite": "download",
        "archive_bytes": archive,
        "note": "moto S3 on 127.0.0.1; peak_disk is bytes under the destination (sample: "
        "tar + tree); for s3:// it is this process's /proc/self/io write_bytes",
        "rows": rows,
    }


def _row(
    how: str, selection: str, seconds: float, disk: int, selected: int, archive: int, fetched: int
) -> dict:
    return {
        "how": how,
        "selection": selection,
        "seconds": round(seconds, 2),
        "selected_MB": round(selected / 1e6, 2),
        "peak_disk_MB": round(disk / 1e6, 2),
        "disk_vs_selected": round(disk / selected, 3) if selected else None,
        "fetched_MB": round(fetched / 1e6, 2),
        "fetched_vs_archive": round(fetched / archive, 3),
        "selected_vs_archive": round(selected / archive, 3),
    }
