"""The Optuna sweeper plugin, discovered by Hydra, searching real jobs of real apps."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
TINY = [
    "dataset.synth.num_sequences=3",
    "dataset.synth.frames_per_sequence=4",
    "dataset.synth.height=64",
    "dataset.synth.width=96",
    "dataset.image_size=[64,96]",
    "dataset.num_workers=0",
    "trainer.batch_size=4",
    "trainer.max_epochs=1",
    "logger=none",
    "hardware.precision=32",
]


def run(args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def test_tpe_finds_the_optimum_and_survives_failing_trials(tmp_path):
    out = run(
        [
            sys.executable,
            str(HERE / "quadratic_app.py"),
            "-m",
            "hydra/sweeper=segtrain_optuna",
            "hydra.sweeper.n_trials=20",
            "x=interval(-5.0, 5.0)",
            "y=choice(a, b)",
            f"hydra.sweep.dir={tmp_path}/sweep",
        ],
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    results = yaml.safe_load((tmp_path / "sweep" / "optimization_results.yaml").read_text())
    assert len(results["trials"]) == 20
    failed = [t for t in results["trials"] if t["value"] is None]
    assert failed and all(t["params"]["x"] < -1 for t in failed)
    assert results["best_params"]["y"] == "b"
    assert abs(results["best_params"]["x"] - 2.0) < 0.75
    assert results["best_value"] > 0.4


def test_segtrain_train_sweep_optuna_runs_each_trial_as_a_training_job(tmp_path):
    out = run(
        [
            sys.executable,
            "-m",
            "segtrain.cli",
            "train",
            "-m",
            "sweep=optuna",
            "hydra.sweeper.n_trials=2",
            *TINY,
            f"hydra.sweep.dir={tmp_path}/sweep",
        ],
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    sweep = tmp_path / "sweep"
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    values = [t["value"] for t in results["trials"]]
    assert len(values) == 2 and all(0.0 <= v <= 1.0 for v in values)
    assert results["best_value"] == max(values)
    assert set(results["best_params"]) == {"model.lr", "model.weight_decay"}
    for job in ("0", "1"):  # each trial is a complete training job with its own model
        assert (sweep / job / "model" / "model.pt").is_file()
        assert (sweep / job / ".hydra" / "overrides.yaml").is_file()


def test_a_persistent_study_resumes_and_runs_only_the_missing_trials(tmp_path):
    def sweep(n_trials: int, name: str) -> dict:
        out = run(
            [
                sys.executable,
                str(HERE / "quadratic_app.py"),
                "-m",
                "hydra/sweeper=segtrain_optuna",
                f"hydra.sweeper.n_trials={n_trials}",
                f"hydra.sweeper.storage=sqlite:///{tmp_path}/study.db",
                "hydra.sweeper.study_name=quadratic",
                "x=interval(0.0, 5.0)",
                f"hydra.sweep.dir={tmp_path}/{name}",
            ],
            cwd=tmp_path,
        )
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        return yaml.safe_load((tmp_path / name / "optimization_results.yaml").read_text())

    first = sweep(3, "first")  # as if killed after 3 of 5 trials
    second = sweep(5, "second")
    assert [t["number"] for t in first["trials"]] == [0, 1, 2]
    assert [t["number"] for t in second["trials"]] == [3, 4]
    assert second["best_value"] >= first["best_value"]
