"""FSDP2's sharded checkpoints (trainer=model_parallel, 2 gloo processes) get the same
lifecycle: ``last`` and ``previous`` as sharded directories after every epoch, a
truncated shard falls back to ``previous``, and a finished run is not retrained."""

from __future__ import annotations

import json

import pytest
from runs import Runner, epochs_of, tree_hashes

pytest.importorskip("torch")

FSDP = ["trainer=model_parallel", "hardware.devices=2"]


@pytest.mark.slow
def test_sharded_last_previous_fallback_and_finished_rerun(tmp_path):
    runner = Runner("torch", tmp_path)
    first = runner.run(*FSDP, "trainer.max_epochs=2", "hydra.run.dir=run")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    ckpt = tmp_path / "run" / "checkpoints"
    assert (ckpt / "last.ckpt").is_dir() and (ckpt / "previous.ckpt").is_dir()
    assert epochs_of(first.stdout) == [1, 2]

    before = tree_hashes(tmp_path / "run")
    again = runner.run(*FSDP, "trainer.max_epochs=2", "hydra.run.dir=run")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert epochs_of(again.stdout) == [] and tree_hashes(tmp_path / "run") == before

    shard = sorted((ckpt / "last.ckpt").glob("*.distcp"))[0]
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    more = runner.run(*FSDP, "trainer.max_epochs=3", "hydra.run.dir=run")
    assert more.returncode == 0, more.stdout[-3000:] + more.stderr[-3000:]
    text = more.stdout + more.stderr
    assert f"Checkpoint {ckpt / 'last.ckpt'} cannot be loaded" in text
    assert "missing or truncated" in text
    assert epochs_of(more.stdout) == [2, 3]  # previous held epoch 1
    assert json.loads((tmp_path / "run" / "results.json").read_text())["epochs_completed"] == 3
