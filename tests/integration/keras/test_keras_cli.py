"""ENet through the real CLI on tiny synthetic scenes: train -> metric lines -> model dir
(.keras + SavedModel) -> evaluate -> predict, and resume after SIGKILL.

Every command runs in a subprocess (TensorFlow never enters the pytest process). Each
run traces and exports ENet (about a minute on 2 cores); they stay in the fast suite
because they are the only end-to-end coverage of the Keras engine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from segtrain.runtime.metric_log import STANDARD_METRICS, parse_metric_lines

TINY = [
    "model=enet",
    "dataset.synth.num_sequences=3",
    "dataset.synth.frames_per_sequence=4",
    "dataset.synth.height=64",
    "dataset.synth.width=96",
    "dataset.image_size=[64,96]",
    "dataset.num_workers=1",
    "trainer.batch_size=4",
    "logger=none",
]


def segtrain(*args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "segtrain.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    work = tmp_path_factory.mktemp("enet")
    out = segtrain("train", *TINY, "trainer.max_epochs=2", "hydra.run.dir=run", cwd=work)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return work, out


def test_each_epoch_prints_one_metric_line_with_every_standard_metric(trained):
    _, out = trained
    rows = parse_metric_lines(out.stdout)
    assert [r["epoch"] for r in rows] == [1, 2]
    for row in rows:
        assert set(STANDARD_METRICS) <= set(row), row
        assert 0.0 <= row["val_mIoU"] <= 1.0
        assert row["throughput"] > 0


def test_training_writes_the_model_dir_checkpoints_and_the_objective(trained):
    work, out = trained
    run = work / "run"
    model_dir = run / "model"
    assert {"model.keras", "saved_model", "config.yaml", "classes.json"} <= {
        p.name for p in model_dir.iterdir()
    }
    assert (model_dir / "saved_model" / "saved_model.pb").is_file()
    ckpt = run / "checkpoints"
    assert {
        "last.weights.h5",
        "best.weights.h5",
        "best.json",
        "backup",
        "config.yaml",
        "classes.json",
    } <= {p.name for p in ckpt.iterdir()}
    assert not [p for p in run.rglob(".tmp-*")], "temporary files left behind"
    results = json.loads((run / "results.json").read_text())
    last = parse_metric_lines(out.stdout)[-1]
    assert results["objective"] == pytest.approx(last["val_mIoU"], abs=1e-5)
    assert results["epochs_completed"] == 2
    assert "val_IoU/Sky" in results["metrics"]


def test_the_saved_model_serves_any_size_divisible_by_8(trained):
    work, _ = trained
    script = (
        "import sys, tensorflow as tf\n"
        "m = tf.saved_model.load(sys.argv[1])\n"
        "out = m.serve(tf.zeros([2, 40, 56, 3]))\n"
        "print(tuple(out.shape))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(work / "run/model/saved_model")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "(2, 40, 56, 11)"


@pytest.mark.parametrize("checkpoint", ["run/model", "run/checkpoints/best.weights.h5"])
def test_evaluate_reads_the_final_model_and_training_checkpoints(trained, checkpoint):
    work, _ = trained
    name = checkpoint.replace("/", "_")
    out = segtrain("evaluate", f"checkpoint={checkpoint}", f"hydra.run.dir=eval_{name}", cwd=work)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads((work / f"eval_{name}" / "metrics.json").read_text())
    assert report["pixels"] > 0 and "Sky" in report["per_class_iou"]
    assert "mIoU" in out.stdout


def test_evaluating_the_final_model_reproduces_the_last_validation(trained):
    work, out = trained
    result = segtrain("evaluate", "checkpoint=run/model", "hydra.run.dir=eval_again", cwd=work)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((work / "eval_again" / "metrics.json").read_text())
    assert report["mIoU"] == pytest.approx(parse_metric_lines(out.stdout)[-1]["val_mIoU"], abs=1e-4)


def test_predict_writes_overlays_for_images_of_any_size(trained, tmp_path):
    import numpy as np
    from PIL import Image

    work, _ = trained
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    Image.fromarray(np.full((50, 70, 3), 128, np.uint8)).save(inputs / "odd.png")
    out = segtrain(
        "predict",
        "checkpoint=run/model",
        f"input={inputs}",
        "output=preds",
        "hydra.run.dir=pred",
        cwd=work,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert [p.name for p in (work / "preds").glob("*.png")] == ["odd.png"]


def test_killed_run_resumes_from_the_saved_epoch(tmp_path):
    args = [
        sys.executable,
        "-m",
        "segtrain.cli",
        "train",
        *TINY,
        "trainer.max_epochs=4",
        "hydra.run.dir=run",
    ]
    metadata = tmp_path / "run" / "checkpoints" / "backup" / "training_metadata.json"
    proc = subprocess.Popen(
        args,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 400
    while not metadata.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert metadata.exists(), "no backup was written"
    proc.send_signal(signal.SIGKILL)
    first = proc.communicate()[0]
    assert proc.returncode == -signal.SIGKILL
    saved = json.loads(metadata.read_text())["epoch"]
    first_epochs = [r["epoch"] for r in parse_metric_lines(first)]
    assert saved >= 1 and max(first_epochs) < 4, "the run finished before it was killed"

    out = segtrain("train", *TINY, "trainer.max_epochs=4", "hydra.run.dir=run", cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert f"Resuming from {tmp_path / 'run' / 'checkpoints' / 'backup'} (epoch {saved})" in (
        out.stdout + out.stderr
    )
    epochs = [r["epoch"] for r in parse_metric_lines(out.stdout)]
    assert epochs == list(range(saved + 1, 5))
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["epochs_completed"] == 4
    assert results["resumed_from"].endswith("backup")
