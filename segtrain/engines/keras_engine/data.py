"""tf.data pipelines over segtrain's framework-free sample sources.

The same :func:`segtrain.data.source.open_split` samples and the same albumentations
pipeline (:func:`segtrain.data.transforms.build_transform`) as the torch engine, wrapped
in ``tf.numpy_function`` inside a parallel ``map``:

- order: sample indices sorted by sample id, so every process agrees on one list;
- sharding: worker ``k`` of ``n`` takes positions ``k, k+n, ...`` of that list (disjoint,
  together covering every sample once);
- determinism: the shuffle is seeded, and each training sample is augmented with its
  own seed drawn from a seeded stream (different every epoch, the same for the same
  ``seed``), under a lock so parallel threads cannot interleave the augmenter's RNG;
- throughput: decoding runs in parallel threads, batches are prefetched.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
import tensorflow as tf

from segtrain.data.source import SampleSource


@dataclass(frozen=True)
class Shard:
    """Which part of the sorted sample list this input pipeline reads."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard index {self.index} is not in [0, {self.count})")


def shard_indices(ids: list[str], shard: Shard = Shard()) -> list[int]:
    """Source positions of ``shard``, taken from the list sorted by sample id."""
    order = sorted(range(len(ids)), key=lambda i: ids[i])
    return order[shard.index :: shard.count]


class _Loader:
    """``(index, seed) -> (image, mask)`` for ``tf.numpy_function``."""

    def __init__(self, source: SampleSource, transform: Callable, ignore_index: int):
        self.source = source
        self.transform = transform
        self.ignore_index = ignore_index
        self._lock = threading.Lock()

    def __call__(self, index: np.int64, seed: np.int64) -> tuple[np.ndarray, np.ndarray]:
        sample = self.source[int(index)]
        reseed = getattr(self.transform, "reseed", None)
        if reseed is None:
            image, mask = self.transform(sample.image, sample.mask)
        else:
            with self._lock:
                reseed(int(seed) & (2**32 - 1))
                image, mask = self.transform(sample.image, sample.mask)
        if mask is None:  # unlabelled sample: every pixel is void
            mask = np.full(image.shape[:2], self.ignore_index, np.int64)
        return np.ascontiguousarray(image, np.float32), np.ascontiguousarray(mask, np.int64)


@dataclass(frozen=True)
class InputPipeline:
    dataset: tf.data.Dataset
    num_samples: int  # samples this shard reads per pass
    steps: int  # batches per pass (after limit_batches)
    images_per_pass: int  # images in those batches


def limit_to_batches(limit: float | int | None, total: int) -> int:
    """Lightning's ``limit_*_batches``: fraction (<= 1.0) or number (> 1) of batches."""
    if limit is None:
        return total
    limit = float(limit)
    if limit <= 0:
        raise ValueError(f"limit_batches={limit} must be > 0")
    if limit <= 1.0:
        return max(1, min(total, math.ceil(total * limit))) if total else 0
    return min(total, int(limit))


def common_steps(
    total: int,
    shards: int,
    batch_size: int,
    *,
    train: bool,
    limit_batches: float | int | None = None,
) -> int:
    """Batches per pass that every one of ``shards`` workers can run in step.

    Collective ops wait for every worker, so all must run the same number of steps.
    Shards of the sorted list differ by at most one sample: training takes the count of
    the smallest shard (its last samples wait for the next shuffle), evaluation the
    count of the largest (smaller shards are padded with void-only samples, which count
    nowhere), so every validation sample is scored exactly once.
    """
    if train:
        smallest = total // shards
        if smallest == 0:
            raise ValueError(f"{total} training samples cannot feed {shards} workers")
        steps = max(smallest // batch_size, 1)
    else:
        steps = math.ceil(math.ceil(total / shards) / batch_size)
    return limit_to_batches(limit_batches, steps)


def make_dataset(
    source: SampleSource,
    transform: Callable,
    image_size: tuple[int, int],
    batch_size: int,
    *,
    train: bool,
    seed: int = 0,
    ignore_index: int = 255,
    shard: Shard = Shard(),
    limit_batches: float | int | None = None,
    num_parallel_calls: int | None = None,
    max_steps: int | None = None,
    pad_to_steps: int | None = None,
) -> InputPipeline:
    """Batches of ``(float32 (B,H,W,3), int64 (B,H,W))``.

    Training shuffles, augments and drops a last partial batch (BatchNorm on a batch of
    one is meaningless) unless the shard holds fewer samples than one batch.
    ``max_steps`` caps the batches per pass; ``pad_to_steps`` (evaluation) fills every
    batch to ``batch_size`` and appends batches up to that count, all padding being
    zero images with void masks (multi-worker runs need equal step counts).
    """
    indices = shard_indices(list(source.ids), shard)
    n = len(indices)
    drop_remainder = train and n >= batch_size
    full = n // batch_size if drop_remainder else math.ceil(n / batch_size)
    steps = limit_to_batches(limit_batches, full)
    if max_steps is not None:
        steps = min(steps, max_steps)
    images = steps * batch_size if drop_remainder or steps < full else n

    loader = _Loader(source, transform, ignore_index)
    h, w = image_size
    ds = tf.data.Dataset.from_tensor_slices(np.asarray(indices, np.int64))
    if train:
        ds = ds.shuffle(max(n, 1), seed=seed, reshuffle_each_iteration=True)
        seeds = tf.data.Dataset.random(seed=seed + 1, rerandomize_each_iteration=True)
    else:
        seeds = tf.data.Dataset.from_tensors(tf.constant(0, tf.int64)).repeat()
    ds = tf.data.Dataset.zip((ds, seeds))

    def load(index, sample_seed):
        image, mask = tf.numpy_function(
            loader, [index, sample_seed], [tf.float32, tf.int64], stateful=True
        )
        image.set_shape([h, w, 3])
        mask.set_shape([h, w])
        return image, mask

    parallel = num_parallel_calls or tf.data.AUTOTUNE
    ds = ds.map(load, num_parallel_calls=parallel, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if steps < full:
        ds = ds.take(steps)
    if pad_to_steps is not None:
        ds = _pad_batches(ds, batch_size, pad_to_steps - steps, (h, w), ignore_index)
        steps = pad_to_steps
    ds = ds.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True
    # sharding is done above on sorted ids; tf.distribute must not shard again
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    ds = ds.with_options(options)
    return InputPipeline(dataset=ds, num_samples=n, steps=steps, images_per_pass=images)


def _pad_batches(
    ds: tf.data.Dataset, batch_size: int, extra: int, size: tuple[int, int], ignore_index: int
) -> tf.data.Dataset:
    """Fill partial batches and append ``extra`` batches; padding is void everywhere."""
    h, w = size

    def fill(images, masks):
        short = batch_size - tf.shape(images)[0]
        images = tf.pad(images, [[0, short], [0, 0], [0, 0], [0, 0]])
        masks = tf.pad(masks, [[0, short], [0, 0], [0, 0]], constant_values=ignore_index)
        return tf.ensure_shape(images, [batch_size, h, w, 3]), tf.ensure_shape(
            masks, [batch_size, h, w]
        )

    ds = ds.map(fill)
    if extra > 0:
        blank = (
            tf.zeros([batch_size, h, w, 3], tf.float32),
            tf.fill([batch_size, h, w], tf.constant(ignore_index, tf.int64)),
        )
        ds = ds.concatenate(tf.data.Dataset.from_tensors(blank).repeat(extra))
    return ds
