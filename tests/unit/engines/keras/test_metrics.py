"""The Keras confusion-matrix metrics compute exactly what segtrain.metrics computes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from segtrain import metrics as reference
from segtrain.engines.keras_engine.metrics import SCORES, ConfusionMatrixScore, segmentation_metrics

C = 5


def _batches(seed: int, n: int = 3):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        target = rng.integers(0, C, size=(2, 12, 10))
        target[:, :2] = 255  # void rows
        logits = rng.normal(size=(2, 12, 10, C)).astype("float32")
        yield target, logits


def test_scores_equal_the_reference_over_several_batches():
    keras_metrics = segmentation_metrics(C, ignore_index=255)
    confusion = np.zeros((C, C), np.int64)
    for target, logits in _batches(0):
        for m in keras_metrics:
            m.update_state(target, logits)
        confusion += reference.confusion_matrix(target, logits.argmax(-1), C, 255)
    expected = reference.scores_from_confusion(confusion)
    for m in keras_metrics:
        assert float(m.result()) == pytest.approx(getattr(expected, m.score), abs=1e-12)
        np.testing.assert_array_equal(m.confusion.numpy(), confusion)
    assert [m.name for m in keras_metrics] == list(SCORES)


def test_class_absent_from_target_and_prediction_is_left_out_of_the_mean():
    # class 2 never appears: its IoU is NaN and mIoU averages classes 0, 1 only
    target = np.array([[0, 0, 1, 1]])
    logits = np.eye(C, dtype="float32")[[0, 1, 1, 1]][None]
    m = ConfusionMatrixScore(C, 255, "mIoU")
    m.update_state(target, logits)
    expected = reference.scores_from_confusion(
        reference.confusion_matrix(target, [[0, 1, 1, 1]], C)
    )
    assert float(m.result()) == pytest.approx(expected.mIoU)
    assert float(m.result()) == pytest.approx((0.5 + 2 / 3) / 2)


def test_ignored_pixels_never_count_and_an_empty_matrix_is_nan():
    m = ConfusionMatrixScore(C, 255, "pixel_acc")
    assert math.isnan(float(m.result()))
    m.update_state(np.full((1, 4, 4), 255), np.zeros((1, 4, 4, C), "float32"))
    assert int(m.confusion.numpy().sum()) == 0


def test_reset_starts_a_new_split():
    m = ConfusionMatrixScore(C, 255, "mIoU")
    target, logits = next(_batches(1))
    m.update_state(target, logits)
    m.reset_state()
    assert int(m.confusion.numpy().sum()) == 0


def test_unknown_score_is_refused():
    with pytest.raises(ValueError, match="score='IoU'"):
        ConfusionMatrixScore(C, 255, "IoU")
