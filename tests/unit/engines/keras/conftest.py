"""Fixtures for the Keras engine's unit tests: a tiny in-memory sample source.

These tests import TensorFlow; run them in their own pytest process, never in one
that imports triton (torchvision, lightning) afterwards.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from segtrain.data.classes import ClassMap
from segtrain.data.source import Sample


class MemorySource:
    """A SampleSource over arrays: ``mask`` i has value ``i % num_classes`` everywhere
    except a void border, so tests can tell samples apart from their masks."""

    def __init__(self, n: int, size=(16, 24), num_classes: int = 3, labelled: bool = True):
        self.class_map = ClassMap(
            names=[f"c{i}" for i in range(num_classes)],
            colors=[(i, i, i) for i in range(num_classes)],
            ignore_index=255,
        )
        # ids deliberately not in index order: the pipeline must sort them
        self.ids = [f"s{(7 * i) % n:03d}" for i in range(n)]
        self.size = size
        self.num_classes = num_classes
        self.labelled = labelled

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> Sample:
        h, w = self.size
        image = np.full((h, w, 3), i, np.uint8)
        mask = None
        if self.labelled:
            mask = np.full((h, w), i % self.num_classes, np.uint8)
            mask[0, :] = 255
        return Sample(self.ids[i], image, mask)


@pytest.fixture
def memory_source():
    return MemorySource
