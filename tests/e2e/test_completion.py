"""Shell completion as bash does it: the script from ``--shell-completion install=bash``
(Hydra's bash plugin) is sourced, ``COMP_LINE``/``COMP_POINT``/``COMP_CWORD`` are set as
bash sets them on <TAB>, the completion function runs, and ``COMPREPLY`` is read back."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.skipif(
    shutil.which("bash") is None or not (BIN / "segtrain").exists(),
    reason="needs bash and the installed `segtrain` script",
)


def env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


@pytest.fixture(scope="module")
def script(tmp_path_factory) -> Path:
    out = subprocess.run(
        ["segtrain", "train", "--shell-completion", "install=bash"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env(),
    )
    assert out.returncode == 0, out.stderr
    assert "complete -o nospace -o default -F hydra_bash_completion segtrain" in out.stdout
    path = tmp_path_factory.mktemp("completion") / "segtrain.bash"
    path.write_text(out.stdout)
    return path


def tab(script: Path, line: str) -> list[str]:
    """What bash offers for <TAB> at the end of ``line``."""
    words = line.split()
    cword = len(words) if line.endswith(" ") else len(words) - 1
    program = (
        f"source {script}\n"
        f'COMP_LINE="{line}"; COMP_POINT=${{#COMP_LINE}}; COMP_CWORD={cword}\n'
        "hydra_bash_completion\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    out = subprocess.run(
        ["bash", "-c", program], capture_output=True, text=True, timeout=120, env=env()
    )
    assert out.returncode == 0, out.stderr
    return [w for w in out.stdout.splitlines() if w]


def test_group_name_completes(script):
    assert "model=" in tab(script, "segtrain train mod")


def test_model_options_complete(script):
    assert tab(script, "segtrain train model=") == ["model=deeplabv3", "model=enet"]


def test_keys_of_a_group_complete_after_other_overrides(script):
    offered = tab(script, "segtrain train model=enet trainer.max_")
    assert offered == ["trainer.max_epochs="]


def test_commands_and_data_subcommands_complete(script):
    assert tab(script, "segtrain ev") == ["evaluate"]
    assert tab(script, "segtrain data pr") == ["prepare"]
    assert "dataset.synth." in tab(script, "segtrain data synth dataset.sy")
