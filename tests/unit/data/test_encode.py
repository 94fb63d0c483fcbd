"""Colour -> index encoding: one lookup, same answer as the notebook's loop, unknown policy."""

from __future__ import annotations

import numpy as np
import pytest

from segtrain.data.classes import ClassMap
from segtrain.data.encode import (
    decode_mask,
    encode_color_label,
    encode_index_label,
    encode_loop_baseline,
    index_table,
    resize_mask,
)
from segtrain.errors import DataError

CM = ClassMap(
    ["road", "sky", "car"],
    [(255, 0, 255), (135, 206, 255), (255, 0, 0)],
    extra_colors={(200, 0, 0): 2, (0, 0, 0): 255},
)


def label_from(idx: np.ndarray) -> np.ndarray:
    return np.asarray(CM.colors, np.uint8)[idx]


def test_encodes_display_and_extra_colours():
    lab = label_from(np.array([[0, 1], [2, 0]]))
    lab[1, 1] = (200, 0, 0)  # a merged source colour
    res = encode_color_label(lab, CM)
    assert res.mask.tolist() == [[0, 1], [2, 2]] and res.mask.dtype == np.uint8
    assert res.unknown_pixels == 0


def test_unknown_colours_are_ignored_and_counted():
    lab = label_from(np.zeros((3, 3), int))
    lab[0, :] = (1, 2, 3)
    res = encode_color_label(lab, CM, unknown="ignore")
    assert res.unknown_pixels == 3
    assert (res.mask[0] == 255).all() and (res.mask[1:] == 0).all()


def test_unknown_colours_error_names_file_and_colour():
    lab = label_from(np.zeros((2, 2), int))
    lab[0, 0] = (1, 2, 3)
    with pytest.raises(DataError, match=r"x\.png: 1 pixels .*#010203"):
        encode_color_label(lab, CM, unknown="error", source="x.png")


def test_matches_the_notebook_loop_on_random_labels():
    rng = np.random.default_rng(0)
    lab = label_from(rng.integers(0, 3, (50, 70)))
    cm = ClassMap(CM.names, CM.colors)
    assert np.array_equal(encode_color_label(lab, cm).mask, encode_loop_baseline(lab, cm))


def test_index_table_maps_void_and_unknown():
    table = index_table(3, 255, void_values=(11,))
    raw = np.array([[0, 2, 11, 255, 7]], np.uint8)
    res = encode_index_label(raw, table, 255)
    assert res.mask.tolist() == [[0, 2, 255, 255, 255]] and res.unknown_pixels == 1
    with pytest.raises(DataError, match=r"values \[7\]"):
        encode_index_label(raw, table, 255, unknown="error")


def test_resize_mask_never_invents_classes():
    rng = np.random.default_rng(1)
    m = rng.choice(np.array([0, 2, 255], np.uint8), (37, 53))
    out = resize_mask(m, (100, 71))
    assert out.shape == (100, 71) and set(np.unique(out)) <= {0, 2, 255}


def test_decode_is_inverse_of_encode():
    idx = np.array([[0, 1, 2]], np.uint8)
    assert np.array_equal(encode_color_label(decode_mask(idx, CM), CM).mask, idx)
