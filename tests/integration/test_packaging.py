"""A non-editable install (the wheel) carries the config tree and the launcher plugin."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(work / "dist"),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (work / "dist").glob("segtrain-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "segtrain/configs/train.yaml" in names
    assert "segtrain/configs/model/deeplabv3.yaml" in names
    assert "hydra_plugins/segtrain_sagemaker/launcher.py" in names
    target = work / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return target


def test_installed_package_finds_its_configs_outside_the_checkout(installed_wheel, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(installed_wheel)}
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import segtrain, segtrain._configs as c; print(segtrain.__file__); print(c.config_dir())",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    module_file, config_dir = out.stdout.split()
    assert module_file.startswith(str(installed_wheel))
    assert config_dir == str(installed_wheel / "segtrain" / "configs")

    help_out = subprocess.run(
        [sys.executable, "-m", "segtrain.cli", "train", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert help_out.returncode == 0, help_out.stderr
    # segtrain's own help (segtrain/help.py) lists each group's options, the default marked
    assert re.search(r"^  model:\s+deeplabv3 \(default\), enet$", help_out.stdout, re.M)
