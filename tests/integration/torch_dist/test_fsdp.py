"""Torch FSDP2 (trainer=model_parallel) with 2 gloo processes through the real CLI:
trains, writes a sharded checkpoint, and a rerun resumes from it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from segtrain.runtime.metric_log import parse_metric_lines

pytest.importorskip("torch")

ARGS = [
    "train",
    "trainer=model_parallel",
    "hardware.devices=2",
    "hardware.precision=32",
    "trainer.batch_size=2",
    "logger=none",
    "dataset.num_workers=0",
    "dataset.synth.num_sequences=3",
    "dataset.synth.frames_per_sequence=4",
    "dataset.synth.height=64",
    "dataset.synth.width=96",
    "dataset.image_size=[64,96]",
    "hydra.run.dir=run",
]


def segtrain(cwd, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "segtrain.cli", *ARGS, *extra],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def test_fsdp2_trains_saves_sharded_checkpoint_and_resumes(tmp_path):
    first = segtrain(tmp_path, "trainer.max_epochs=1")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert last.is_dir(), "FSDP2 checkpoints are sharded directories"
    shards = sorted(p.name for p in last.glob("*.distcp"))
    assert len(shards) == 2, shards  # one shard per rank
    assert not list(last.parent.glob(".tmp-*")), "no temporary checkpoint left behind"
    assert [r["epoch"] for r in parse_metric_lines(first.stdout)] == [1]

    second = segtrain(tmp_path, "trainer.max_epochs=2")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "Resuming from" in second.stdout
    assert [r["epoch"] for r in parse_metric_lines(second.stdout)] == [2]
    assert (tmp_path / "run" / "model" / "model.pt").is_file()
