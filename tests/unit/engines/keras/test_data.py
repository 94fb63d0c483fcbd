"""tf.data input: sorted-id sharding, seeded shuffling/augmentation, batches, limits."""

from __future__ import annotations

import numpy as np
import pytest

from segtrain.data.transforms import build_transform
from segtrain.engines.keras_engine.data import Shard, limit_to_batches, make_dataset, shard_indices

SIZE = (16, 24)


def _ids_of(pipeline, source) -> list[int]:
    """Sample positions in pipeline order (each image is filled with its index)."""
    out = []
    for images, _ in pipeline.dataset:
        out += [round(float(v)) for v in images.numpy()[:, 0, 0, 0]]
    return out


def _identity(image, mask):
    return image.astype(np.float32), None if mask is None else mask.astype(np.int64)


def test_shards_are_disjoint_cover_everything_and_follow_sorted_ids():
    ids = [f"id{(5 * i) % 11:02d}" for i in range(11)]
    shards = [shard_indices(ids, Shard(k, 3)) for k in range(3)]
    flat = [i for s in shards for i in s]
    assert sorted(flat) == list(range(11))
    assert len(set(flat)) == 11
    by_id = sorted(range(11), key=lambda i: ids[i])
    assert shards[1] == by_id[1::3]


def test_shard_index_must_be_in_range():
    with pytest.raises(ValueError, match="shard index 3"):
        Shard(3, 3)


def test_validation_order_is_sorted_by_id_and_keeps_the_last_partial_batch(memory_source):
    source = memory_source(10, SIZE)
    pipe = make_dataset(source, _identity, SIZE, 4, train=False)
    assert (pipe.steps, pipe.images_per_pass) == (3, 10)
    assert _ids_of(pipe, source) == sorted(range(10), key=lambda i: source.ids[i])


def test_training_drops_the_partial_batch_and_batches_have_the_right_types(memory_source):
    source = memory_source(10, SIZE)
    pipe = make_dataset(source, _identity, SIZE, 4, train=True, seed=1)
    batches = list(pipe.dataset)
    assert (pipe.steps, pipe.images_per_pass, len(batches)) == (2, 8, 2)
    images, masks = batches[0]
    assert images.shape == (4, *SIZE, 3) and images.dtype == "float32"
    assert masks.shape == (4, *SIZE) and masks.dtype == "int64"


def test_shuffle_is_seeded_and_differs_between_epochs(memory_source):
    source = memory_source(12, SIZE)
    a = make_dataset(source, _identity, SIZE, 3, train=True, seed=7)
    b = make_dataset(source, _identity, SIZE, 3, train=True, seed=7)
    first, second = _ids_of(a, source), _ids_of(a, source)
    assert first == _ids_of(b, source)
    assert first != second
    assert sorted(first) == list(range(12))


def test_augmentation_is_reproducible_with_the_seed(memory_source):
    source = memory_source(8, (32, 32))
    aug = {"hflip": 0.5, "scale_min": 0.5, "scale_max": 1.5, "brightness_contrast": 0.3}

    def run(seed: int) -> np.ndarray:
        transform = build_transform(aug, (32, 32), train=True)
        pipe = make_dataset(
            source, transform, (32, 32), 4, train=True, seed=seed, num_parallel_calls=4
        )
        return np.concatenate([m.numpy() for _, m in pipe.dataset])

    np.testing.assert_array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))


def test_unlabelled_samples_become_all_void(memory_source):
    source = memory_source(3, SIZE, labelled=False)
    pipe = make_dataset(source, _identity, SIZE, 3, train=False, ignore_index=11)
    _, masks = next(iter(pipe.dataset))
    assert np.all(masks.numpy() == 11)


def test_limit_batches_takes_a_fraction_or_a_count(memory_source):
    assert limit_to_batches(None, 10) == 10
    assert limit_to_batches(0.25, 10) == 3
    assert limit_to_batches(1.0, 10) == 10
    assert limit_to_batches(4, 10) == 4
    assert limit_to_batches(40, 10) == 10
    pipe = make_dataset(memory_source(20, SIZE), _identity, SIZE, 4, train=True, limit_batches=2)
    assert (pipe.steps, pipe.images_per_pass, len(list(pipe.dataset))) == (2, 8, 2)
