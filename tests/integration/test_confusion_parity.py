"""One confusion matrix: numpy, torch and TensorFlow count the same batch identically.

Each engine builds only the matrix (its own on-device bincount); every score then comes
from :func:`segtrain.metrics.scores_from_confusion`. This feeds one prediction batch --
with ignore pixels, out-of-range targets, a class absent from both target and
prediction, and a class only predicted -- to the numpy reference and to each engine's
counting code. Torch and TensorFlow run in separate subprocesses: importing TensorFlow
before triton segfaults, so the two never share a process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from segtrain.metrics import confusion_matrix, scores_from_confusion

C = 6
IGNORE = 255
ABSENT = 4  # never in target nor prediction
ONLY_PREDICTED = 5  # predicted somewhere, never in the target

TORCH_SCRIPT = """
import json, sys
import numpy as np
import torch
from segtrain.engines.lightning_engine.module import confusion_matrix_torch

data = np.load(sys.argv[1])
cm = confusion_matrix_torch(
    torch.from_numpy(data["pred"]), torch.from_numpy(data["target"]), int(data["C"]),
    int(data["ignore"]),
)
print(json.dumps({"labels": cm.tolist()}))
"""

TF_SCRIPT = """
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
from segtrain.engines.keras_engine.metrics import (
    ConfusionMatrixScore, batch_confusion, label_confusion,
)

data = np.load(sys.argv[1])
C, ignore = int(data["C"]), int(data["ignore"])
logits = np.eye(C, dtype="float32")[data["pred"]]  # one-hot: argmax is the prediction
metric = ConfusionMatrixScore(C, ignore, "mIoU")
metric.update_state(data["target"], logits)
print(json.dumps({
    "labels": label_confusion(data["target"], data["pred"], C, ignore).numpy().tolist(),
    "logits": batch_confusion(data["target"], logits, C, ignore).numpy().tolist(),
    "metric": metric.confusion.numpy().tolist(),
    "metric_mIoU": float(metric.result()),
}))
"""


def _batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    target = rng.choice([0, 1, 2, 3], size=(3, 17, 23)).astype(np.int64)
    pred = np.where(rng.random(target.shape) < 0.6, target, rng.choice([0, 1, 2, 3], target.shape))
    target[:, :3] = IGNORE  # void rows, whatever was predicted there
    target[0, 5, :4] = -1  # outside [0, C): dropped like the ignore index
    target[1, 6, :4] = C + 3
    pred[2, 10:, :5] = ONLY_PREDICTED
    return target, pred.astype(np.int64)


def _run(script: str, data: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", script, str(data)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> tuple[np.ndarray, np.ndarray, np.ndarray, Path]:
    target, pred = _batch()
    reference = confusion_matrix(target, pred, C, IGNORE)
    path = tmp_path_factory.mktemp("parity") / "batch.npz"
    np.savez(path, target=target, pred=pred, C=C, ignore=IGNORE)
    return target, pred, reference, path


def test_the_batch_exercises_every_convention(batch):
    target, _, reference, _ = batch
    kept = ((target >= 0) & (target < C) & (target != IGNORE)).sum()
    assert reference.sum() == kept < target.size
    assert reference[ABSENT].sum() == 0 and reference[:, ABSENT].sum() == 0
    assert reference[ONLY_PREDICTED].sum() == 0 and reference[:, ONLY_PREDICTED].sum() > 0
    scores = scores_from_confusion(reference)
    assert np.isnan(scores.iou[ABSENT]) and scores.iou[ONLY_PREDICTED] == 0.0


def test_torch_counts_exactly_what_numpy_counts(batch):
    _, _, reference, path = batch
    result = _run(TORCH_SCRIPT, path)
    np.testing.assert_array_equal(np.array(result["labels"]), reference)


def test_tensorflow_counts_exactly_what_numpy_counts(batch):
    _, _, reference, path = batch
    result = _run(TF_SCRIPT, path)
    for key in ("labels", "logits", "metric"):
        np.testing.assert_array_equal(np.array(result[key]), reference, err_msg=key)
    # the Keras metric's score is segtrain.metrics' score of that matrix, bit for bit
    assert result["metric_mIoU"] == scores_from_confusion(reference).mIoU
