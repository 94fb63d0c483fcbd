"""The job's entry point, shipped as ``sm_entry.py`` at the root of the source tarball.

The toolkit runs it in ``/opt/ml/code``. It uses the standard library only until the
requirements are in place: the Deep Learning Container has the framework but not
Hydra, OmegaConf, Lightning or albumentations. Only requirements that are missing or at
a wrong version are installed (the toolkit's own ``requirements.txt`` step would make pip
re-resolve the whole, already satisfied, tree on every start: about 9 s here). A file
lock serialises the check when torchrun starts one process per GPU.
"""

import fcntl
import importlib.metadata
import subprocess
import sys
from pathlib import Path

REQUIREMENTS_FILE = "segtrain-requirements.txt"
LOCK_FILE = "/tmp/segtrain-requirements.lock"


def _requirement(line: str):  # -> packaging Requirement
    try:
        from packaging.requirements import Requirement
    except ImportError:  # pip always vendors it
        from pip._vendor.packaging.requirements import Requirement
    return Requirement(line)


def missing_requirements(lines: list[str]) -> list[str]:
    """The requirement lines this interpreter does not satisfy."""
    missing = []
    for line in lines:
        req = _requirement(line)
        try:
            version = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(line)
            continue
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            missing.append(line)
    return missing


def ensure_requirements(code_dir: Path) -> None:
    path = code_dir / REQUIREMENTS_FILE
    if not path.is_file():
        return
    lines = [
        s.strip() for s in path.read_text().splitlines() if s.strip() and not s.startswith("#")
    ]
    with open(LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = missing_requirements(lines)
        if missing:
            print(f"installing {len(missing)} requirement(s): {' '.join(missing)}", flush=True)
            subprocess.check_call([sys.executable, "-m", "pip", "install", *missing])


def main() -> None:
    ensure_requirements(Path(__file__).resolve().parent)
    from hydra_plugins.segtrain_sagemaker._remote import main as run

    run()


if __name__ == "__main__":
    main()
