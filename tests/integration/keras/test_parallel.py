"""The Keras engine's parallelism on this CPU: MirroredStrategy over 2 logical devices,
MultiWorkerMirroredStrategy with 2 worker processes on 127.0.0.1, and ENet split over 2
logical devices.

TensorFlow fixes its logical devices when its runtime starts, so every check runs in a
fresh subprocess (``strategy_check.py``) and reports JSON back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from workers import clean_env, run_workers

CHECK = Path(__file__).with_name("strategy_check.py")


def run_check(mode: str, out: Path, timeout: int = 420) -> dict:
    proc = subprocess.run(
        [sys.executable, str(CHECK), mode, str(out)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((out / f"{mode}.json").read_text())


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory) -> dict:
    return run_check("mirrored", tmp_path_factory.mktemp("mirrored"))


def test_mirrored_runs_one_replica_on_each_logical_cpu(mirrored):
    assert mirrored["replicas"] == 2
    assert {d.rsplit("/", 1)[-1] for d in mirrored["replica_devices"]} == {
        "device:CPU:0",
        "device:CPU:1",
    }


def test_one_mirrored_step_equals_one_single_device_step_on_the_global_batch(mirrored):
    # the step really moved the weights, and both runs moved them identically
    assert mirrored["step_max_change"] > 1e-3
    assert mirrored["step_max_diff"] < 1e-5


def test_mirrored_enet_trains_with_identical_variables_on_every_replica(mirrored):
    losses = mirrored["losses"]
    assert losses[-1] < losses[0], losses
    assert mirrored["replica_spread"] == 0.0


def test_mirrored_validation_sums_confusion_matrices_to_the_single_process_result(mirrored):
    assert mirrored["confusion_equal"]
    assert mirrored["pixels"] == 6 * 30 * 32  # every labelled pixel scored exactly once
    assert mirrored["mIoU_parallel"] == pytest.approx(mirrored["mIoU_single"], abs=1e-12)


def test_model_parallel_places_encoder_and_decoder_on_two_devices(tmp_path):
    found = run_check("model_parallel", tmp_path)
    devices = found["variable_devices"]
    for stage in ("initial", "stage1", "stage2", "stage3"):
        assert [d.rsplit("/", 1)[-1] for d in devices[stage]] == ["device:CPU:0"], stage
    for stage in ("stage4", "stage5", "fullconv"):
        assert [d.rsplit("/", 1)[-1] for d in devices[stage]] == ["device:CPU:1"], stage
    # optimizer slots live with their weights, not all on the first device
    assert {d.rsplit("/", 1)[-1] for d in found["slot_devices"]} == {
        "device:CPU:0",
        "device:CPU:1",
    }
    losses = found["losses"]
    assert losses[-1] < losses[0], losses


def test_multi_worker_mirrored_keeps_both_workers_identical(tmp_path):
    command = [sys.executable, str(CHECK), "worker", str(tmp_path)]
    for worker in run_workers([command, command], cwd=tmp_path, timeout=420):
        assert worker.returncode == 0, worker.stdout[-3000:]

    reports = [json.loads((tmp_path / f"worker{i}.json").read_text()) for i in (0, 1)]
    assert [r["is_chief"] for r in reports] == [True, False]
    assert all(r["replicas"] == 2 for r in reports)
    # every worker saw the same global loss and ends with the same weights
    assert reports[0]["losses"] == pytest.approx(reports[1]["losses"], rel=1e-6)
    assert reports[0]["losses"][-1] < reports[0]["losses"][0]
    weights = [np.load(tmp_path / f"worker{i}.npz") for i in (0, 1)]
    assert sorted(weights[0].files) == sorted(weights[1].files)
    for name in weights[0].files:
        np.testing.assert_array_equal(weights[0][name], weights[1][name], err_msg=name)
    # validation over disjoint shards (one padded with void) == one process on all of it
    for report in reports:
        assert report["confusion_equal"]
        assert report["mIoU_parallel"] == pytest.approx(report["mIoU_single"], abs=1e-12)
