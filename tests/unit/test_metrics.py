"""metrics: every score from one confusion matrix; ignore index and absent classes."""

import math

import numpy as np
import pytest

from segtrain.metrics import confusion_matrix, format_iou_table, scores_from_confusion


def test_confusion_matrix_counts_target_rows_prediction_columns():
    target = np.array([0, 0, 1, 1, 2])
    pred = np.array([0, 1, 1, 1, 0])
    cm = confusion_matrix(target, pred, num_classes=3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_ignore_index_pixels_are_dropped_whatever_was_predicted():
    target = np.array([0, 255, 255, 1])
    pred = np.array([0, 1, 0, 1])
    cm = confusion_matrix(target, pred, num_classes=2, ignore_index=255)
    assert cm.sum() == 2
    assert cm.tolist() == [[1, 0], [0, 1]]


def test_hand_computed_scores():
    # class 0: tp 3, fn 1, fp 1 -> IoU 3/5 ; class 1: tp 2, fn 1, fp 1 -> IoU 2/4
    cm = np.array([[3, 1], [1, 2]])
    s = scores_from_confusion(cm)
    assert s.iou.tolist() == pytest.approx([0.6, 0.5])
    assert s.mIoU == pytest.approx(0.55)
    assert s.pixel_acc == pytest.approx(5 / 7)
    assert s.mean_acc == pytest.approx((3 / 4 + 2 / 3) / 2)
    assert s.fwIoU == pytest.approx(4 / 7 * 0.6 + 3 / 7 * 0.5)


def test_class_absent_from_target_and_prediction_is_nan_and_excluded():
    cm = np.array([[2, 0, 0], [0, 2, 0], [0, 0, 0]])
    s = scores_from_confusion(cm)
    assert math.isnan(s.iou[2])
    assert s.mIoU == pytest.approx(1.0)


def test_class_only_predicted_counts_as_zero_iou():
    # class 2 never in the target but predicted once: IoU 0, not NaN
    cm = np.array([[2, 0, 1], [0, 2, 0], [0, 0, 0]])
    s = scores_from_confusion(cm)
    assert s.iou[2] == 0.0
    assert s.mIoU == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert math.isnan(s.acc[2])


def test_summing_rank_matrices_equals_whole_split_not_mean_of_rank_scores():
    rng = np.random.default_rng(0)
    target = rng.integers(0, 4, 1000)
    pred = np.where(rng.random(1000) < 0.7, target, rng.integers(0, 4, 1000))
    whole = confusion_matrix(target, pred, 4)
    halves = [
        confusion_matrix(target[:300], pred[:300], 4),
        confusion_matrix(target[300:], pred[300:], 4),
    ]
    assert (halves[0] + halves[1] == whole).all()
    summed = scores_from_confusion(halves[0] + halves[1]).mIoU
    averaged = np.mean([scores_from_confusion(h).mIoU for h in halves])
    assert summed == pytest.approx(scores_from_confusion(whole).mIoU)
    assert summed != pytest.approx(averaged, abs=1e-6)


def test_prediction_outside_class_range_is_an_error():
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix(np.array([0, 1]), np.array([0, 5]), num_classes=2)


def test_table_lists_every_class_and_summary():
    s = scores_from_confusion(np.array([[3, 1], [1, 2]]))
    table = format_iou_table(s, ["road", "car"])
    assert "road" in table and "car" in table and "60.00" in table and "mIoU" in table
