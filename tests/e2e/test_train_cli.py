"""End to end through the real CLI on tiny synthetic scenes: train -> metric lines ->
model dir -> evaluate -> predict, and resume after SIGKILL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from segtrain.runtime.metric_log import parse_metric_lines

TINY = [
    "dataset.synth.num_sequences=3",
    "dataset.synth.frames_per_sequence=4",
    "dataset.synth.height=64",
    "dataset.synth.width=96",
    "dataset.image_size=[64,96]",
    "dataset.num_workers=0",
    "trainer.batch_size=4",
    "logger=none",
    "hardware.precision=32",
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
    work = tmp_path_factory.mktemp("train")
    out = segtrain("train", *TINY, "trainer.max_epochs=2", "hydra.run.dir=run", cwd=work)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return work, out


def test_training_prints_metric_lines_sagemaker_regexes_parse(trained):
    _, out = trained
    rows = parse_metric_lines(out.stdout)
    assert [r["epoch"] for r in rows] == [1, 2]
    for row in rows:
        for key in ("train_loss", "val_loss", "val_mIoU", "val_pixel_acc", "throughput", "lr"):
            assert key in row, (key, row)
        assert 0.0 <= row["val_mIoU"] <= 1.0


def test_training_writes_model_dir_and_results(trained):
    work, _ = trained
    model_dir = work / "run" / "model"
    assert {"model.pt", "config.yaml", "classes.json"} <= {p.name for p in model_dir.iterdir()}
    assert (work / "run" / "checkpoints" / "last.ckpt").is_file()
    results = json.loads((work / "run" / "results.json").read_text())
    assert results["optimized_metric"] == "val_mIoU"
    assert 0.0 <= results["objective"] <= 1.0
    assert (work / "run" / ".hydra" / "config.yaml").is_file()


def test_evaluate_prints_per_class_table_and_writes_metrics_json(trained):
    work, _ = trained
    out = segtrain(
        "evaluate", "checkpoint=run/model", "hydra.run.dir=eval", "dataset.num_workers=0", cwd=work
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "mIoU" in out.stdout and "Sky" in out.stdout
    report = json.loads((work / "eval" / "metrics.json").read_text())
    assert report["split"] == "val" and report["pixels"] > 0
    assert set(report["per_class_iou"]) >= {"Sky"}


OTHER_SYNTH = {"num_sequences": 2, "frames_per_sequence": 3, "height": 32, "width": 64}


def _plain_report(work: Path) -> dict:
    """metrics.json of evaluating the model on its own dataset, no dataset override."""
    report = work / "eval" / "metrics.json"
    if not report.is_file():
        args = ["checkpoint=run/model", "hydra.run.dir=eval", "dataset.num_workers=0"]
        assert segtrain("evaluate", *args, cwd=work).returncode == 0
    return json.loads(report.read_text())


def _tree_state(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}


def test_evaluate_with_a_dataset_override_refines_the_checkpoints_dataset(trained):
    """``dataset.root=<dir>`` moves the checkpoint's dataset config to another copy of its
    data; it does not swap in evaluate's default dataset (which generated other frames
    into the user's folder, issue 16 item 6)."""
    work, _ = trained
    copy = work / "copy_of_data"
    shutil.copytree(work / "data" / "synthetic", copy)
    before = _tree_state(copy)
    plain = _plain_report(work)
    out = segtrain(
        "evaluate",
        "checkpoint=run/model",
        f"dataset.root={copy}",
        "hydra.run.dir=eval_copy",
        "dataset.num_workers=0",
        cwd=work,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = json.loads((work / "eval_copy" / "metrics.json").read_text())
    assert report["dataset"] == plain["dataset"]
    assert report["pixels"] == plain["pixels"]
    assert report["confusion_matrix"] == plain["confusion_matrix"]
    assert _tree_state(copy) == before, "evaluate wrote into the dataset folder"


def test_evaluate_with_a_dataset_choice_uses_that_dataset(trained):
    """``dataset=<name>`` picks a dataset explicitly (here: synthetic frames of another
    size generated into a new folder), refined by the ``dataset.*`` overrides."""
    work, _ = trained
    out = segtrain(
        "evaluate",
        "checkpoint=run/model",
        "dataset=synthetic",
        f"dataset.root={work / 'other_synthetic'}",
        *(f"dataset.synth.{k}={v}" for k, v in OTHER_SYNTH.items()),
        "dataset.image_size=[32,64]",
        "hydra.run.dir=eval_other",
        "dataset.num_workers=0",
        cwd=work,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = json.loads((work / "eval_other" / "metrics.json").read_text())
    assert 0 < report["pixels"] != _plain_report(work)["pixels"]
    assert (work / "other_synthetic" / "manifest.jsonl").is_file()


def test_predict_writes_overlay_pngs(trained):
    work, _ = trained
    out = segtrain(
        "predict", "checkpoint=run/model", "limit=2", "output=preds", "hydra.run.dir=pred", cwd=work
    )
    assert out.returncode == 0, out.stderr[-3000:]
    pngs = sorted((work / "preds").glob("*.png"))
    assert len(pngs) == 2
    assert "Wrote 2 prediction overlay(s)" in out.stdout


def test_evaluate_with_missing_checkpoint_is_one_clear_error(tmp_path):
    out = segtrain("evaluate", "checkpoint=nowhere/model", cwd=tmp_path)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert "checkpoint=nowhere/model does not exist" in out.stderr


def test_killed_run_resumes_from_its_last_checkpoint(tmp_path):
    args = [
        sys.executable,
        "-m",
        "segtrain.cli",
        "train",
        *TINY,
        "trainer.max_epochs=4",
        "hydra.run.dir=run",
    ]
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    proc = subprocess.Popen(
        args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    deadline = time.monotonic() + 300
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ckpt.exists(), "no checkpoint was written"
    proc.send_signal(signal.SIGKILL)
    first_output = proc.communicate()[0]
    first_epochs = [r["epoch"] for r in parse_metric_lines(first_output)]
    assert not first_epochs or max(first_epochs) < 4, "run finished before it was killed"

    out = segtrain("train", *TINY, "trainer.max_epochs=4", "hydra.run.dir=run", cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Resuming from" in out.stdout
    epochs = [r["epoch"] for r in parse_metric_lines(out.stdout)]
    assert epochs and epochs[0] > 1 and epochs[-1] == 4
