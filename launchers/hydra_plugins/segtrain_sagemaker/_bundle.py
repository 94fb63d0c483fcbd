"""What a job ships: the source tarball and the config channel's files.

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

from segtrain.errors import LaunchError

from ._request import CONFIG_FILE, ENTRY_POINT

#: model.framework -> segtrain's extra for it
FRAMEWORK_EXTRAS = {"torch": "torch", "keras": "tf"}
#: distributions the Deep Learning Containers provide; never reinstalled
PROVIDED_BY_IMAGE = {"torch", "torchvision", "tensorflow", "tensorflow-cpu", "tensorflow-gpu"}

TASK_PICKLE = "task.pkl"
JOB_FILE = "job.json"

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
    extra = FRAMEWORK_EXTRAS.get(framework)
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
