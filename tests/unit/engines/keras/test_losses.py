"""Masked cross-entropy (ignore index, class weights) and the ENet class weights."""

from __future__ import annotations

import numpy as np
import pytest

from segtrain.data.class_weights import class_pixel_counts, class_weights
from segtrain.engines.keras_engine.losses import MaskedSparseCrossEntropy
from segtrain.errors import ConfigError

C = 4


def _per_pixel_ce(target: np.ndarray, logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(-1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    safe = np.where(target < C, target, 0)
    return -np.take_along_axis(log_p, safe[..., None], -1)[..., 0]


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    target = rng.integers(0, C, size=(2, 6, 5))
    target[0, :3] = 255
    return target, rng.normal(size=(2, 6, 5, C)).astype("float32")


def test_ignored_pixels_do_not_change_the_loss(batch):
    target, logits = batch
    loss = MaskedSparseCrossEntropy(C, 255)
    changed = logits.copy()
    changed[0, :3] = 100.0 * np.random.default_rng(1).normal(size=changed[0, :3].shape)
    assert float(loss(target, logits)) == pytest.approx(float(loss(target, changed)), rel=1e-6)


def test_unweighted_loss_is_the_mean_over_counted_pixels(batch):
    target, logits = batch
    keep = target != 255
    expected = _per_pixel_ce(target, logits)[keep].mean()
    assert float(MaskedSparseCrossEntropy(C, 255)(target, logits)) == pytest.approx(
        expected, rel=1e-5
    )


def test_weighted_loss_is_normalised_by_the_weights_like_torch(batch):
    # torch.nn.CrossEntropyLoss(weight=w, ignore_index=255): sum(w_y * ce) / sum(w_y)
    target, logits = batch
    w = np.array([0.5, 1.0, 2.0, 4.0], np.float32)
    keep = target != 255
    pixel_w = w[np.where(keep, target, 0)] * keep
    expected = (_per_pixel_ce(target, logits) * pixel_w).sum() / pixel_w.sum()
    got = float(MaskedSparseCrossEntropy(C, 255, list(w))(target, logits))
    assert got == pytest.approx(expected, rel=1e-5)


def test_an_all_void_batch_gives_zero_not_nan():
    target = np.full((1, 3, 3), 255)
    assert float(MaskedSparseCrossEntropy(C, 255)(target, np.zeros((1, 3, 3, C), "float32"))) == 0.0


def test_enet_weights_follow_the_paper_formula():
    counts = np.array([700, 200, 100, 0])
    w = class_weights(counts, "enet", 1.02)
    p = counts / counts.sum()
    np.testing.assert_allclose(w, 1 / np.log(1.02 + p), rtol=1e-6)
    assert w[0] < w[1] < w[2] < w[3]  # rarer classes weigh more
    assert w[3] == pytest.approx(1 / np.log(1.02))


def test_inverse_weights_have_mean_one_over_present_classes():
    w = class_weights(np.array([600, 300, 100, 0]), "inverse")
    assert w[3] == 0
    assert w[:3].mean() == pytest.approx(1.0)
    assert w[0] * 600 == pytest.approx(w[2] * 100)


def test_no_weighting_and_bad_settings():
    assert class_weights(np.array([1, 2, 3, 4]), "none") is None
    with pytest.raises(ConfigError, match="class_weighting='median'"):
        class_weights(np.array([1, 2, 3, 4]), "median")
    with pytest.raises(ConfigError, match="no"):
        class_weights(np.zeros(4), "enet")


def test_pixel_counts_skip_void_and_unlabelled():
    masks = [np.array([[0, 1], [255, 1]]), None, np.array([[3, 3], [3, 9]])]
    np.testing.assert_array_equal(class_pixel_counts(masks, C, 255), [1, 2, 0, 3])


def test_loss_round_trips_through_its_config():
    loss = MaskedSparseCrossEntropy(C, 11, [1.0, 2.0, 3.0, 4.0])
    again = MaskedSparseCrossEntropy.from_config(loss.get_config())
    assert (again.num_classes, again.ignore_index, again.class_weights) == (
        C,
        11,
        [1.0, 2.0, 3.0, 4.0],
    )
