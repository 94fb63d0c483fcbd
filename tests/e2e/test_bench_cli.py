"""`segtrain bench` writes its suites' results to files; figures are ratios of one run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def segtrain(*args: str, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "segtrain.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_train_step_suite_compares_fp32_with_the_cpu_fast_path(tmp_path):
    out = segtrain(
        "bench",
        "suites=[train_step]",
        "steps=1",
        "warmup=1",
        "batch_size=2",
        "image_size=[64,96]",
        "output_dir=results",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    result = json.loads((tmp_path / "results" / "train_step.json").read_text())
    assert result["rows"], result
    assert (tmp_path / "results" / "results.md").read_text().startswith("### train_step")


def test_unknown_suite_is_one_clear_error(tmp_path):
    out = segtrain("bench", "suites=[nosuch]", "hydra.run.dir=run", cwd=tmp_path)
    assert out.returncode != 0
    assert "nosuch" in out.stderr and "scaling" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_scaling_suite_reports_images_per_second_for_1_and_2_processes(tmp_path):
    tiny = [
        "dataset.synth.num_sequences=3",
        "dataset.synth.frames_per_sequence=4",
        "dataset.synth.height=64",
        "dataset.synth.width=96",
        "dataset.image_size=[64,96]",
        "dataset.num_workers=0",
        "hardware.precision=32",
    ]
    out = segtrain(
        "bench",
        "suites=[scaling]",
        "batch_size=2",
        "scaling_samples=8",
        "scaling_epochs=1",
        "scaling_overrides=[" + ",".join(f"'{o}'" for o in tiny) + "]",
        "output_dir=results",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    rows = json.loads((tmp_path / "results" / "scaling.json").read_text())["rows"]
    assert [r["replicas"] for r in rows] == [1, 2]
    assert rows[1]["how"] == "2 processes (DDP)"
    assert all(r["images_per_s"] > 0 for r in rows)
    assert rows[0]["speedup_vs_1"] == 1.0
