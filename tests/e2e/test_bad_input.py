"""The bad-input matrix: every wrong input a user can type is refused with exit code 2 and
one line naming the key, file or value (issue 16, "What it must show").

Two tables; add a row to the one that fits:

- ``REFUSED_BEFORE_ANY_WRITE``: refused while composing the config, before Hydra makes a
  run directory, so the working directory stays empty. Run in-process through
  ``segtrain.cli.main(argv)`` (the console script's entry point; nothing of Hydra's app runs
  for these), plus a few through a real ``segtrain`` process (``test_..._real_process``).
- ``REFUSED_BY_THE_COMMAND``: refused by the command once it runs (a missing dataset root,
  a missing checkpoint, a launch request SageMaker would reject), through a real process.

Each row is ``(argv, expected substring of the one error line)``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from segtrain.cli import main

REFUSED_BEFORE_ANY_WRITE: list[tuple[list[str], str]] = [
    # types, keys and group options (Hydra / OmegaConf, made one line by the CLI)
    (["train", "model.lr=abc"], "model.lr"),
    (["train", "trainer.max_epochs=1.5"], "trainer.max_epochs"),
    (["train", "model=nosuch"], "Available options in 'model': deeplabv3"),
    (["train", "model.nokey=1"], "model.nokey"),
    (["train", "~model.lr"], "model.lr"),
    (["train", "model.lr=["], "cannot parse overrides"),
    (["data", "nosuch"], "unknown subcommand 'nosuch'; expected one of synth, prepare"),
    # keys added with + (struct mode end to end)
    (["train", "+model.nosuchkey=1"], "model.nosuchkey is not a key of model; valid keys: name"),
    (["train", "+nosuch=1"], "nosuch is not a key of the config; valid keys: task"),
    (["train", "+trainer.callbacks=[1]"], "trainer.callbacks is not a key of trainer"),
    (["data", "synth", "+dataset.split.zz=3"], "dataset.split.zz is not a key of dataset.split"),
    (["evaluate", "checkpoint=x", "+checkpoints=y"], "checkpoints is not a key of the config"),
    # numbers out of range
    (["train", "trainer.max_epochs=-1"], "trainer.max_epochs=-1: expected a value >= 1"),
    (["train", "trainer.batch_size=0"], "trainer.batch_size=0: expected a value >= 1"),
    (["train", "hardware.devices=0"], "hardware.devices=0: expected a value >= 1"),
    (["train", "hardware.nodes=0"], "hardware.nodes=0: expected a value >= 1"),
    (["train", "dataset.image_size=[0,288]"], "dataset.image_size=[0, 288]: expected a value >= 1"),
    (["train", "dataset.image_size=[192]"], "dataset.image_size=[192]: expected 2 values"),
    (["train", "dataset.cache.shard_size=0"], "dataset.cache.shard_size=0"),
    (["train", "dataset.num_workers=-1"], "dataset.num_workers=-1: expected a value >= 0"),
    (["train", "dataset.split.val_fraction=1.5"], "dataset.split.val_fraction=1.5"),
    (["train", "augment.hflip=2"], "augment.hflip=2.0: expected a value >= 0 and <= 1"),
    (["train", "model.lr=0"], "model.lr=0.0: expected a value > 0"),
    (["train", "model.weight_decay=-0.1"], "model.weight_decay=-0.1: expected a value >= 0"),
    (["train", "trainer.limit_train_batches=-3"], "trainer.limit_train_batches=-3"),
    (["data", "synth", "dataset.synth.num_sequences=0"], "dataset.synth.num_sequences=0"),
    (["predict", "checkpoint=x", "overlay_alpha=3"], "overlay_alpha=3.0"),
    (["bench", "steps=0"], "steps=0: expected a value >= 1"),
    # enumerated values, with the valid choices
    (["train", "dataset.format=nosuch"], "dataset.format='nosuch': expected one of synthetic"),
    (["train", "dataset.split.by=sequence"], "dataset.split.by='sequence': expected one of"),
    (["train", "dataset.unknown_colors=warn"], "expected one of ignore, error"),
    (["train", "dataset.on_error=ignore"], "dataset.on_error='ignore': expected one of error"),
    (["train", "dataset.cameras=[front]"], "dataset.cameras=['front']: expected one of front_"),
    (["train", "model.name=unet"], "model.name='unet': expected one of deeplabv3, enet"),
    (["train", "model.framework=jax"], "model.framework='jax': expected one of torch, keras"),
    (["train", "model.backbone=resnet18"], "model.backbone='resnet18': expected one of mobile"),
    (["train", "model=enet", "model.framework=torch"], "expected model.framework=keras"),
    (["train", "model.optimizer=rmsprop"], "model.optimizer='rmsprop': expected one of sgd"),
    (["train", "model.scheduler=step"], "model.scheduler='step': expected one of poly"),
    (["train", "model.class_weighting=median"], "model.class_weighting='median'"),
    (["train", "trainer.parallelism=pipeline"], "trainer.parallelism='pipeline'"),
    (["train", "trainer.lr_scaling=cubic"], "trainer.lr_scaling='cubic': expected one of none"),
    (["train", "trainer.backend=mpi"], "trainer.backend='mpi': expected one of auto, gloo"),
    (["train", "trainer.sharding=fsdp1"], "trainer.sharding='fsdp1': expected one of fsdp2"),
    (["train", "hardware.accelerator=tpu"], "hardware.accelerator='tpu': expected one of cpu"),
    (["train", "hardware.precision=64"], "hardware.precision='64': expected one of auto, 32"),
    (["train", "logger.progress_bar=sometimes"], "logger.progress_bar='sometimes'"),
    (["evaluate", "checkpoint=x", "split=tset"], "split='tset': expected one of train, val"),
    (["bench", "suites=[nosuch]"], "suites=['nosuch']: expected one of data, train_step"),
    # required values, values that disagree, sweeps
    (["evaluate"], "checkpoint is not set"),
    (["train", "augment.scale_min=2", "augment.scale_max=1"], "expected scale_min <= scale_max"),
    (["train", "-m", "trainer.max_epochs=2,-1"], "trainer.max_epochs=-1: expected a value >= 1"),
    (["train", "-m", "model=deeplabv3,nosuch"], "Available options in 'model'"),
]

ACCOUNT = [
    "hydra.launcher.role=arn:aws:iam::123456789012:role/SageMakerExecution",
    "hydra.launcher.bucket=my-bucket",
    "hydra.launcher.region=eu-central-1",
    "hydra.launcher.dry_run=true",
]
SAGEMAKER = ["train", "-m", "hydra/launcher=sagemaker", "hardware=ml_g5_xlarge"]

REFUSED_BY_THE_COMMAND: list[tuple[list[str], str]] = [
    (["evaluate", "checkpoint=nowhere/model"], "checkpoint=nowhere/model does not exist"),
    (["predict", "checkpoint=nowhere"], "checkpoint=nowhere does not exist"),
    (["train", "dataset=camvid", "dataset.root=no_such_dir"], "no_such_dir does not exist"),
    (["data", "prepare", "dataset=camvid", "dataset.root=no_such_dir"], "does not exist"),
    (["data", "inspect", "dataset=folder", "dataset.root=."], "is not in the expected layout"),
    (["data", "upload"], "needs dst=s3://"),
    (
        [*SAGEMAKER, *ACCOUNT, "hydra.launcher.instance_count=3"],
        "hydra.launcher.instance_count=3 but hardware.nodes=1",
    ),
    (
        [*SAGEMAKER, "hydra.launcher.region=eu-central-1", "hydra.launcher.bucket=null"],
        "hydra.launcher.bucket is not set",
    ),
    (
        [*SAGEMAKER, *ACCOUNT, "dataset=a2d2", "dataset.root=/data/a2d2"],
        "dataset.root='/data/a2d2' is a local path",
    ),
]


def _ids(rows: list[tuple[list[str], str]]) -> list[str]:
    return [" ".join(argv) for argv, _ in rows]


def _assert_one_line(stderr: str, argv: list[str], expected: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr[-3000:]
    assert lines[0].startswith("segtrain"), lines[0]
    assert ": error: " in lines[0], lines[0]
    assert expected in lines[0], lines[0]
    assert "Traceback" not in stderr and "HYDRA_FULL_ERROR" not in stderr


@pytest.mark.parametrize(
    ("argv", "expected"), REFUSED_BEFORE_ANY_WRITE, ids=_ids(REFUSED_BEFORE_ANY_WRITE)
)
def test_refused_before_anything_is_written(argv, expected, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for name in ("SEGTRAIN_COMMAND", "SEGTRAIN_DATA_COMMAND", "SEGTRAIN_DEBUG", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    _assert_one_line(capsys.readouterr().err, argv, expected)
    assert list(tmp_path.iterdir()) == []  # no run dir, no .hydra, no checkpoint, no data


def segtrain(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SEGTRAIN_"))}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "segtrain.cli", *argv, "hydra.run.dir=run", "hydra.sweep.dir=sweep"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


#: the rows also run as a real ``segtrain`` process (exit code and stderr as a shell sees them)
REAL_PROCESS = [
    row
    for row in REFUSED_BEFORE_ANY_WRITE
    if row[0][-1]
    in (
        "trainer.max_epochs=-1",
        "trainer.batch_size=0",
        "hardware.devices=0",
        "+model.nosuchkey=1",
        "trainer.max_epochs=2,-1",
    )
]

assert len(REAL_PROCESS) == 5, "a row of REAL_PROCESS changed: pick its replacement"


@pytest.mark.parametrize(("argv", "expected"), REAL_PROCESS, ids=_ids(REAL_PROCESS))
def test_refused_before_anything_is_written_real_process(argv, expected, tmp_path):
    out = segtrain(argv, tmp_path)
    assert out.returncode == 2, out.stderr[-3000:]
    _assert_one_line(out.stderr, argv, expected)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "expected"), REFUSED_BY_THE_COMMAND, ids=_ids(REFUSED_BY_THE_COMMAND)
)
def test_refused_by_the_command(argv, expected, tmp_path):
    (tmp_path / "stray.txt").write_text("not a dataset")
    out = segtrain(argv, tmp_path)
    assert out.returncode == 2, out.stderr[-3000:]
    errors = [line for line in out.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1, out.stderr[-3000:]
    assert expected in errors[0], errors[0]
    assert "Traceback" not in out.stderr and "HYDRA_FULL_ERROR" not in out.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()
