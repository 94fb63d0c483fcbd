"""Class weights from training-split pixel frequencies (ENet paper's 1/ln(c + p))."""

import math

import numpy as np
import pytest

from segtrain.data.class_weights import class_pixel_counts, class_weights
from segtrain.errors import ConfigError


def test_counts_skip_void_and_unlabelled_masks():
    masks = [np.array([[0, 0, 255], [1, 2, 2]]), None]
    assert class_pixel_counts(masks, 3, 255).tolist() == [2, 1, 2]


def test_enet_weights_follow_the_paper_formula():
    counts = np.array([60, 30, 10])
    w = class_weights(counts, "enet", 1.02)
    expected = [1 / math.log(1.02 + p) for p in (0.6, 0.3, 0.1)]
    assert w.tolist() == pytest.approx(expected, rel=1e-6)
    assert w[2] > w[1] > w[0]  # rare classes weigh more


def test_inverse_weights_have_mean_one_over_present_classes():
    w = class_weights(np.array([75, 25, 0]), "inverse")
    assert w[2] == 0.0
    assert w[:2].mean() == pytest.approx(1.0)
    assert w[1] / w[0] == pytest.approx(3.0)


def test_none_means_no_weights_and_unknown_method_is_named():
    assert class_weights(np.array([1, 1]), "none") is None
    with pytest.raises(ConfigError, match="class_weighting='median'"):
        class_weights(np.array([1, 1]), "median")


def test_no_labelled_pixels_is_a_clear_error():
    with pytest.raises(ConfigError, match="no"):
        class_weights(np.zeros(3), "enet")
