"""What travels between the launcher and a job: source tarball, config channel, outcome.

Both sides import this module (the launcher before submitting, ``_remote`` inside the
container), so the file names of that contract and the one helper that edits the
shipped config live here.

The source tarball (``sagemaker_submit_directory``) holds the ``segtrain`` package, the
``configs/`` tree, this plugin (for the in-container runner), ``sm_entry.py`` (the entry
point the toolkit runs, from ``_entry.py``) and ``segtrain-requirements.txt``, which the
entry point installs when something is missing (not the toolkit's ``requirements.txt``:
see ``_entry.py``). The
tarball is deterministic (sorted members, zero mtimes), so identical code gives identical
bytes.

The requirements come from segtrain's own installed metadata (one source of truth with
pyproject.toml): the core dependencies plus the extra of the job's framework, minus the
framework itself, which the Deep Learning Container already provides in a build matched
to its CUDA.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from segtrain.errors import LaunchError
from segtrain.runtime.checkpoints import atomic_write

from ._images import CONTAINERS
from ._request import CONFIG_FILE, ENTRY_POINT

#: distributions the Deep Learning Containers provide; never reinstalled
PROVIDED_BY_IMAGE = {"torch", "torchvision", "tensorflow", "tensorflow-cpu", "tensorflow-gpu"}

TASK_PICKLE = "task.pkl"
JOB_FILE = "job.json"
#: the job's outcome in its output data (status, JSON return value, error, working dir)
RESULT_FILE = "segtrain_job.json"
#: the task's return value, pickled; docker-free runs only (same interpreter)
RETURN_PICKLE = "segtrain_return.pkl"

#: the entry point's source (shipped as sm_entry.py) and the requirements file it reads
ENTRY_FILE = Path(__file__).with_name("_entry.py")
REQUIREMENTS_FILE = "segtrain-requirements.txt"

_EXCLUDE_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_EXCLUDE_SUFFIXES = {".pyc", ".pyo"}


def requirements(framework: str) -> list[str]:
    """Requirement lines for the container, from segtrain's installed metadata."""
    from importlib import metadata

    from packaging.requirements import Requirement

    try:
        declared = metadata.requires("segtrain") or []
    except metadata.PackageNotFoundError:
        raise LaunchError(
            "segtrain is not installed, so its dependencies are unknown; install it "
            "(pip install -e '.[all]') before launching on SageMaker"
        ) from None
    extra = CONTAINERS[framework].extra if framework in CONTAINERS else None
    lines = []
    for text in declared:
        req = Requirement(text)
        if req.marker is not None and (extra is None or not req.marker.evaluate({"extra": extra})):
            continue
        if req.name.lower() in PROVIDED_BY_IMAGE or req.name.lower() == "segtrain":
            continue
        req.marker = None
        lines.append(str(req))
    return sorted(set(lines))


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def _files(root: Path) -> Iterable[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_dir() or any(part in _EXCLUDE_DIRS for part in path.parts):
            continue
        if path.suffix in _EXCLUDE_SUFFIXES:
            continue
        yield path


def source_roots() -> dict[str, Path]:
    """Tarball directory name -> local directory, for the code the job needs."""
    import segtrain
    from segtrain._configs import config_dir

    plugin = Path(__file__).resolve().parent
    return {
        "segtrain": Path(segtrain.__file__).resolve().parent,
        "configs": config_dir(),
        "hydra_plugins/segtrain_sagemaker": plugin,
    }


def source_tarball(framework: str) -> bytes:
    """``sourcedir.tar.gz`` bytes: package, configs, plugin, requirements, entry point."""
    buf = io.BytesIO()
    # gzip header mtime 0 too, so identical code gives identical bytes
    import gzip

    with (
        gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        for arcroot, local in source_roots().items():
            for path in _files(local):
                rel = path.relative_to(local).as_posix()
                _add_bytes(tar, f"{arcroot}/{rel}", path.read_bytes())
        _add_bytes(tar, ENTRY_POINT, ENTRY_FILE.read_bytes())
        reqs = "\n".join(requirements(framework)) + "\n"
        _add_bytes(tar, REQUIREMENTS_FILE, reqs.encode())
    return buf.getvalue()


def config_payload(
    config_yaml: str, job: dict[str, Any], task_pickle: bytes | None = None
) -> dict[str, bytes]:
    """Files of the ``config`` channel: the composed config and how to run it."""
    files = {CONFIG_FILE: config_yaml.encode(), JOB_FILE: json.dumps(job, indent=2).encode()}
    if task_pickle is not None:
        files[TASK_PICKLE] = task_pickle
    return files


def task_pickle(task_function: Any) -> bytes:
    """A Hydra app's task function and Hydra's singletons, for a docker-free run of an
    app that is not a segtrain command (same interpreter, so cloudpickle round-trips)."""
    import cloudpickle
    from hydra.core.singleton import Singleton

    return cloudpickle.dumps(
        {"task_function": task_function, "singleton_state": Singleton.get_state()}
    )


def set_value(cfg: DictConfig, key: str, value: Any) -> None:
    """Set ``key`` in Hydra's read-only composed config (each level may carry its flag)."""
    parent_key, _, leaf = key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key)
    with read_write(parent), open_dict(parent):
        parent[leaf] = value


def tar_dir(src: Path, dest: Path) -> Path:
    """``tar.gz`` of a directory's contents (what SageMaker does with /opt/ml/model)."""

    def write(tmp: Path) -> None:
        with tarfile.open(tmp, "w:gz") as tar:
            for path in sorted(src.rglob("*")):
                tar.add(path, arcname=path.relative_to(src).as_posix(), recursive=False)

    return atomic_write(dest, write)


def extract(archive: bytes, dest: Path) -> None:
    """Unpack a ``tar.gz`` (a job's output.tar.gz) into ``dest``; no member may escape it."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(dest, filter="data")
