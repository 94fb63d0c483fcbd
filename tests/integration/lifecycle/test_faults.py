"""Fault injection through the real CLI, both engines: a finished run is not retrained,
a foreign checkpoint dir is refused, an unloadable ``last`` falls back, SIGTERM saves and
exits 143, and SIGKILL at random points (inside checkpoint writes too) loses nothing.

Each engine's tests share one uninterrupted 2-epoch run (``finished_run``); the others
start their own. Tiny synthetic scenes (64x96, 12 frames) keep every run short.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import time

import pytest
from runs import (
    BOTH,
    KERAS_SLOW,
    OWNER_TEXT,
    PREVIOUS_FILE,
    RESUME_FILE,
    Runner,
    epochs_of,
    error_line,
    tree_hashes,
    wait_for,
    writing_checkpoint,
)

OTHER = {"torch": "keras", "keras": "torch"}


def _begun(output: str) -> bool:
    """The run has chosen where to start (a checkpoint or scratch)."""
    return "Resuming from" in output or "starting from scratch" in output


@pytest.mark.parametrize("engine", BOTH, indirect=True)
def test_rerunning_a_finished_run_changes_no_file(finished_run):
    before = tree_hashes(finished_run.run_dir)
    results = json.loads((finished_run.run_dir / "results.json").read_text())
    out = Runner(finished_run.engine, finished_run.work).run(
        "trainer.max_epochs=2", "hydra.run.dir=run"
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "already finished" in out.stdout + out.stderr
    assert epochs_of(out.stdout) == [], "a finished run trained again"
    assert f"val_mIoU={results['objective']:.4f}" in out.stdout + out.stderr
    assert tree_hashes(finished_run.run_dir) == before


@pytest.mark.parametrize("engine", BOTH, indirect=True)
def test_a_checkpoint_dir_of_another_engine_is_refused(finished_run, tmp_path):
    before = tree_hashes(finished_run.checkpoints)
    other = Runner(OTHER[finished_run.engine], tmp_path)
    out = other.run(
        "trainer.max_epochs=1",
        f"paths.checkpoint_dir={finished_run.checkpoints}",
        "hydra.run.dir=other",
        timeout=300,
    )
    assert out.returncode == 2, out.stdout[-2000:] + out.stderr[-2000:]
    line = error_line(out.stderr)
    assert f"holds the checkpoints of {OWNER_TEXT[finished_run.engine]}" in line
    assert "Traceback" not in out.stderr
    assert epochs_of(out.stdout) == []
    assert tree_hashes(finished_run.checkpoints) == before


def _copy_run(finished_run, tmp_path):
    shutil.copytree(finished_run.checkpoints, tmp_path / "run" / "checkpoints")
    return tmp_path / "run" / "checkpoints"


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("engine", KERAS_SLOW, indirect=True)
def test_a_truncated_last_falls_back_to_the_previous_checkpoint(finished_run, tmp_path):
    engine = finished_run.engine
    ckpt = _copy_run(finished_run, tmp_path)
    bad = ckpt / RESUME_FILE[engine]
    _truncate(bad)
    out = Runner(engine, tmp_path).run("trainer.max_epochs=3", "hydra.run.dir=run")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout + out.stderr
    assert f"Checkpoint {bad} cannot be loaded" in text
    assert f"falling back to {ckpt / PREVIOUS_FILE[engine]}" in text
    assert epochs_of(out.stdout) == [2, 3]  # previous held epoch 1
    assert json.loads((tmp_path / "run" / "results.json").read_text())["epochs_completed"] == 3


@pytest.mark.parametrize("engine", BOTH, indirect=True)
def test_no_loadable_checkpoint_is_one_clear_error(finished_run, tmp_path):
    engine = finished_run.engine
    ckpt = _copy_run(finished_run, tmp_path)
    for name in (RESUME_FILE[engine], PREVIOUS_FILE[engine]):
        _truncate(ckpt / name)
    for best in ckpt.glob("best-*.ckpt"):
        _truncate(best)
    out = Runner(engine, tmp_path).run("trainer.max_epochs=3", "hydra.run.dir=run")
    assert out.returncode == 2, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Traceback" not in out.stderr
    line = error_line(out.stderr)
    assert "no loadable checkpoint to resume from" in line and "resume=false" in line
    assert epochs_of(out.stdout) == []


@pytest.mark.parametrize("engine", ["torch"], indirect=True)
def test_an_unsafe_pickle_is_refused_without_advising_weights_only_false(finished_run, tmp_path):
    torch = pytest.importorskip("torch")
    import pathlib

    ckpt = _copy_run(finished_run, tmp_path)
    for name in ("previous.ckpt", *(p.name for p in ckpt.glob("best-*.ckpt"))):
        _truncate(ckpt / name)
    unsafe = {"state_dict": {}, "epoch": 1, "x": pathlib.PurePosixPath("/")}
    torch.save(unsafe, ckpt / "last.ckpt")
    out = Runner("torch", tmp_path).run("trainer.max_epochs=3", "hydra.run.dir=run")
    assert out.returncode == 2, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout + out.stderr
    assert "never runs code from a file" in text and "PurePosixPath" in text
    assert "weights_only=False" not in text and "weights_only` set to `False" not in text
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("engine", KERAS_SLOW, indirect=True)
def test_sigterm_mid_epoch_saves_exits_143_and_the_rerun_resumes(engine, tmp_path):
    runner = Runner(engine, tmp_path)
    started = runner.start("trainer.max_epochs=3", "hydra.run.dir=run")
    assert wait_for(lambda: started.epochs() != [], started, 400), started.output()[-3000:]
    time.sleep(0.3)  # into the next epoch
    signalled = time.monotonic()
    started.kill(signal.SIGTERM)
    code = started.wait(timeout=120)
    assert time.monotonic() - signalled < 60, "SageMaker allows 120 s after SIGTERM"
    output = started.output()
    assert code == 143, output[-3000:]
    done = started.epochs()
    assert done and max(done) < 3, "the run finished before SIGTERM arrived"
    line = error_line(output)
    assert "training stopped by SIGTERM" in line
    assert f"{max(done)} of 3 epoch(s) are saved" in line
    assert (tmp_path / "run" / "checkpoints" / RESUME_FILE[engine]).exists()
    assert not (tmp_path / "run" / "results.json").exists()

    out = runner.run("trainer.max_epochs=3", "hydra.run.dir=run")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert epochs_of(out.stdout) == list(range(max(done) + 1, 4))
    assert json.loads((tmp_path / "run" / "results.json").read_text())["epochs_completed"] == 3


@pytest.mark.slow
@pytest.mark.parametrize("engine", BOTH, indirect=True)
def test_sigkill_three_times_then_the_run_completes_with_every_epoch_once(engine, tmp_path):
    """Kills inside a checkpoint write, at a random instant, and inside a write again;
    then the run completes exactly its 4 planned epochs, none reported twice."""
    rng = random.Random(16)
    runner = Runner(engine, tmp_path)
    ckpt = tmp_path / "run" / "checkpoints"
    printed: list[int] = []
    for attempt in range(3):
        started = runner.start("trainer.max_epochs=4", "hydra.run.dir=run", name=f"kill{attempt}")
        if attempt == 1:
            assert wait_for(lambda s=started: _begun(s.output()), started, 400)
            time.sleep(rng.uniform(0.5, 8.0))
        else:
            assert wait_for(writing_checkpoint(ckpt), started, 400), started.output()[-3000:]
        started.kill(signal.SIGKILL)
        assert started.wait(timeout=60) == -signal.SIGKILL, "the run ended before the kill"
        printed += started.epochs()
    out = runner.run("trainer.max_epochs=4", "hydra.run.dir=run")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    printed += epochs_of(out.stdout)
    assert len(printed) == len(set(printed)), f"an epoch was reported twice: {printed}"
    assert printed[-1] == 4 and set(printed) <= {1, 2, 3, 4}
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["epochs_completed"] == 4
    assert not list((tmp_path / "run").rglob(".tmp-*")), "temporary files left behind"
