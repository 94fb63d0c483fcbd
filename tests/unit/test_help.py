"""`segtrain --version`, `segtrain <command> --help` built from the schema's docstrings,
`segtrain data --help`, and help piped into a reader that stops early."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

import segtrain
from segtrain import config
from segtrain.help import command_help, field_docs, options
from segtrain.runtime.commands import COMMANDS


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "segtrain.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_version_is_the_installed_distribution_version():
    out = run_cli("--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"segtrain {segtrain.__version__}"
    assert segtrain.__version__[0].isdigit()


def test_field_docs_are_the_attribute_docstrings_bases_included():
    docs = field_docs(config.TrainConfig)
    assert docs["resume"].startswith("resume from the latest checkpoint")
    assert "verbose" in docs  # declared on CommandConfig, the base
    assert field_docs(config.TrainerConfig)["batch_size"] == "per device"


@pytest.mark.parametrize("schema", list(config.GROUP_SCHEMAS.values()))
def test_every_group_field_has_a_description(schema):
    docs = field_docs(schema)
    undocumented = [
        f.name
        for f in dataclasses.fields(schema)
        if f.name not in docs
        and not dataclasses.is_dataclass(f.default_factory)
        and f.default_factory is dataclasses.MISSING
    ]
    assert not undocumented, f"{schema.__name__}: fields without a docstring: {undocumented}"


def test_every_train_option_is_described(compose_config):
    cfg = compose_config("train")
    rows = list(options(cfg))
    assert len(rows) > 80
    missing = [key for key, _, doc in rows if not doc]
    assert missing == [], missing


def test_train_help_has_its_header_groups_and_described_options():
    text = command_help("segtrain train", COMMANDS["train"].help, "train")
    first, *_ = text.splitlines()
    assert first == f"segtrain train: {COMMANDS['train'].help}"
    assert "  model:          deeplabv3 (default), enet" in text
    assert "schema:" not in text  # the schema store is no group a user picks
    line = next(x for x in text.splitlines() if x.startswith("  trainer.max_epochs=24 "))
    assert "epochs to train" in line
    choices = next(x for x in text.splitlines() if x.startswith("  model.optimizer=adamw"))
    assert "{sgd|adamw|adam}" in choices


def test_help_shows_the_values_the_overrides_compose():
    text = command_help("segtrain train", "", "train", ["model=enet"])
    assert "  model.name=enet " in text and "deeplabv3, enet (default)" in text


def test_each_command_lists_only_the_groups_it_composes():
    evaluate = command_help("segtrain evaluate", "", "evaluate")
    assert "  hardware:" in evaluate and "  model:" not in evaluate
    assert "  trainer:" not in evaluate and "trainer.max_epochs" not in evaluate
    synth = command_help("segtrain data synth", "", "data")
    assert "  dataset:" in synth and "  hardware:" not in synth and "model." not in synth


def test_cli_help_goes_through_segtrain_help_and_data_help_lists_subcommands():
    out = run_cli("train", "--help")
    assert out.returncode == 0 and out.stdout.startswith("segtrain train: ")
    data = run_cli("data", "--help")
    assert data.returncode == 0
    for sub in ("synth", "prepare", "inspect", "upload", "download", "bench"):
        assert any(line.split()[:1] == [sub] for line in data.stdout.splitlines()), sub


def test_a_bad_override_with_help_is_one_error_line():
    out = run_cli("train", "model=nosuch", "--help")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "segtrain train: error:" in out.stderr


@pytest.mark.parametrize("args", [["train", "--help"], ["--help"], ["data", "--help"]])
def test_help_piped_into_head_exits_cleanly(args):
    cmd = f"set -o pipefail; {sys.executable} -m segtrain.cli {' '.join(args)} | head -1"
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    assert len(out.stdout.splitlines()) == 1
