"""``trainer=data_parallel`` and ``trainer=model_parallel`` for ENet through the real CLI.

Tiny synthetic scenes, every run in subprocesses: MirroredStrategy over 2 logical CPUs
(with a resume), two MultiWorkerMirroredStrategy worker processes on 127.0.0.1 started
the torchrun way (RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT), and the stage split
over 2 logical CPUs. Each run's model is evaluated again by ``segtrain evaluate``.

Each run costs 1-2 minutes on 2 cores (TensorFlow start, tracing, SavedModel export), so
only the mirrored run is in ``make test``; the resume, two-worker and stage-split runs
are ``slow`` (``make test-all``). ``test_parallel.py`` checks the same mechanisms below
the CLI in the fast suite.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from segtrain.runtime.metric_log import parse_metric_lines

sys.path.insert(0, str(Path(__file__).parent))
from workers import clean_env, run_workers

TINY = [
    "train",
    "model=enet",
    "dataset.synth.num_sequences=3",
    "dataset.synth.frames_per_sequence=4",
    "dataset.synth.height=64",
    "dataset.synth.width=96",
    "dataset.image_size=[64,96]",
    "dataset.num_workers=1",
    "trainer.batch_size=2",
    "logger=none",
]


def segtrain(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "segtrain.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=clean_env(**env),
    )


def evaluate(work: Path, run: str) -> dict:
    out = segtrain("evaluate", f"checkpoint={run}/model", f"hydra.run.dir={run}-eval", cwd=work)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return json.loads((work / f"{run}-eval" / "metrics.json").read_text())


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    work = tmp_path_factory.mktemp("mirrored")
    args = [*TINY, "trainer=data_parallel", "hardware.devices=2", "hydra.run.dir=run"]
    out = segtrain(*args, "trainer.max_epochs=2", cwd=work)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return work, out


def test_data_parallel_mirrors_over_two_devices_and_prints_one_line_per_epoch(mirrored):
    work, out = mirrored
    logs = out.stdout + out.stderr
    assert "MirroredStrategy over /CPU:0, /CPU:1" in logs
    assert "2 replica(s) on 1 worker(s), global batch 4" in logs
    rows = parse_metric_lines(out.stdout)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert all(0.0 <= r["val_mIoU"] <= 1.0 and r["throughput"] > 0 for r in rows)
    assert {"model.keras", "saved_model"} <= {p.name for p in (work / "run/model").iterdir()}


def test_data_parallel_validation_equals_evaluating_the_model_in_one_process(mirrored):
    work, out = mirrored
    report = evaluate(work, "run")
    assert report["mIoU"] == pytest.approx(parse_metric_lines(out.stdout)[-1]["val_mIoU"], abs=1e-4)


@pytest.mark.slow
def test_data_parallel_rerun_resumes_from_the_backup(mirrored):
    work, _ = mirrored
    args = [*TINY, "trainer=data_parallel", "hardware.devices=2", "hydra.run.dir=run"]
    out = segtrain(*args, "trainer.max_epochs=3", cwd=work)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "(epoch 2)" in out.stdout + out.stderr
    assert [r["epoch"] for r in parse_metric_lines(out.stdout)] == [3]
    results = json.loads((work / "run" / "results.json").read_text())
    assert results["epochs_completed"] == 3 and results["resumed_from"].endswith("backup")


@pytest.mark.slow
def test_two_worker_processes_train_as_one_job_and_only_the_chief_writes(tmp_path):
    args = [
        sys.executable,
        "-m",
        "segtrain.cli",
        *TINY,
        "trainer=data_parallel",
        "hardware.devices=1",
        "hardware.nodes=2",
        "trainer.max_epochs=1",
        "paths.checkpoint_dir=shared/checkpoints",
    ]
    workers = run_workers([[*args, f"hydra.run.dir=run{rank}"] for rank in (0, 1)], tmp_path)
    for worker in workers:
        assert worker.returncode == 0, worker.stdout[-4000:]
    outputs = [worker.stdout for worker in workers]
    assert "worker 0 of 2 (chief), 2 replicas in sync" in outputs[0]
    assert "worker 1 of 2 (not chief), 2 replicas in sync" in outputs[1]
    assert [r["epoch"] for r in parse_metric_lines(outputs[0])] == [1]
    assert parse_metric_lines(outputs[1]) == []  # only the chief prints metric lines
    assert (tmp_path / "run0/model/model.keras").is_file()
    assert not (tmp_path / "run1/model").exists()
    backup = json.loads((tmp_path / "shared/checkpoints/backup/training_metadata.json").read_text())
    assert backup["epoch"] == 1
    report = evaluate(tmp_path, "run0")
    assert report["mIoU"] == pytest.approx(parse_metric_lines(outputs[0])[-1]["val_mIoU"], abs=1e-4)


@pytest.mark.slow
def test_model_parallel_trains_the_stage_split_enet_and_exports_one_graph(tmp_path):
    out = segtrain(
        *TINY,
        "trainer=model_parallel",
        "hardware.devices=2",
        "trainer.max_epochs=1",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    logs = out.stdout + out.stderr
    assert "stage3=/CPU:0" in logs and "stage4=/CPU:1" in logs
    assert [r["epoch"] for r in parse_metric_lines(out.stdout)] == [1]
    report = evaluate(tmp_path, "run")
    assert report["mIoU"] == pytest.approx(parse_metric_lines(out.stdout)[-1]["val_mIoU"], abs=1e-4)
