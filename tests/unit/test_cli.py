"""The `segtrain` command: help, and one readable error line for bad input."""

import subprocess
import sys

import pytest


def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "segtrain.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_help_lists_commands():
    out = run_cli("--help")
    assert out.returncode == 0
    for command in ("train", "evaluate", "predict", "data synth", "data prepare"):
        assert command in out.stdout


def test_train_help_shows_config_groups():
    out = run_cli("train", "--help")
    assert out.returncode == 0
    for group in ("dataset", "model", "trainer", "hardware", "augment", "logger"):
        assert f"{group}:" in out.stdout
    assert "deeplabv3" in out.stdout


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("model.lr=abc", "model.lr"),
        ("model=nosuch", "Available options in 'model': deeplabv3"),
        ("model.nokey=1", "model.nokey"),
        ("trainer.max_epochs=1.5", "trainer.max_epochs"),
    ],
)
def test_bad_override_is_one_clear_line_without_traceback(override, expected):
    out = run_cli("train", override)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("segtrain train: error:")
    assert expected in lines[0]


def test_unknown_command_names_the_choices():
    out = run_cli("trian")
    assert out.returncode == 2
    assert "unknown command 'trian'" in out.stderr and "train" in out.stderr
