"""Colour labels -> class indices with one table lookup, and resizing that keeps labels exact.

The original notebook compared every label against each of A2D2's 55 colours in a Python
loop (55 full-image comparisons per frame). Here a colour is packed into one 24-bit
integer and looked up in a 2**24-entry table built once per class map: one pass over the
pixels whatever the number of classes. Colours not in the class map get the ignore index
(and are counted) or raise, per ``dataset.unknown_colors``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from segtrain.data.classes import ClassMap
from segtrain.errors import ConfigError, DataError

_UNKNOWN = -1
_LUT_CACHE: dict[str, np.ndarray] = {}


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) int32 ``r<<16 | g<<8 | b``."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise ValueError(f"expected an (H, W, 3) colour array, got shape {rgb.shape}")
    r = rgb[:, :, 0].astype(np.int32)
    g = rgb[:, :, 1].astype(np.int32)
    b = rgb[:, :, 2].astype(np.int32)
    return (r << 16) | (g << 8) | b


def color_lut(class_map: ClassMap) -> np.ndarray:
    """int16 table of 2**24 entries: packed colour -> class index, ignore, or -1 (unknown)."""
    key = class_map.fingerprint()
    lut = _LUT_CACHE.get(key)
    if lut is None:
        lut = np.full(1 << 24, _UNKNOWN, dtype=np.int16)
        for (r, g, b), idx in class_map.color_table().items():
            lut[(r << 16) | (g << 8) | b] = idx
        _LUT_CACHE[key] = lut
    return lut


@dataclass
class EncodeResult:
    mask: np.ndarray  # uint8 (H, W)
    unknown_pixels: int


def encode_color_label(
    label_rgb: np.ndarray, class_map: ClassMap, unknown: str = "ignore", source: str = "label"
) -> EncodeResult:
    """Vectorised colour -> index conversion.

    ``unknown="ignore"`` maps colours outside the class map to ``ignore_index`` and
    reports how many pixels that affected; ``"error"`` raises :class:`DataError` naming
    ``source`` and the first offending colours.
    """
    if unknown not in ("ignore", "error"):
        raise ConfigError(f"dataset.unknown_colors={unknown!r}; expected 'ignore' or 'error'")
    lut = color_lut(class_map)
    idx = lut[pack_rgb(label_rgb)]
    bad = idx == _UNKNOWN
    n_bad = int(np.count_nonzero(bad))
    if n_bad:
        if unknown == "error":
            cols = np.unique(pack_rgb(label_rgb)[bad])[:5]
            names = ", ".join(f"#{int(c):06x}" for c in cols)
            raise DataError(
                f"{source}: {n_bad} pixels have colours not in the class list ({names}...); "
                "set dataset.unknown_colors=ignore to map them to the ignore index"
            )
        idx[bad] = class_map.ignore_index
    return EncodeResult(idx.astype(np.uint8), n_bad)


def encode_loop_baseline(label_rgb: np.ndarray, class_map: ClassMap) -> np.ndarray:
    """The original notebook's approach, kept only as the benchmark's baseline:
    one full-image comparison per class colour, in a Python loop."""
    out = np.full(label_rgb.shape[:2], class_map.ignore_index, dtype=np.uint8)
    for i, rgb in enumerate(class_map.colors):
        out[np.all(label_rgb == np.array(rgb, dtype=np.uint8), axis=-1)] = i
    return out


def index_table(
    num_classes: int, ignore_index: int, void_values: tuple[int, ...] = ()
) -> np.ndarray:
    """256-entry int16 table for index masks: 0..num_classes-1 kept, ``ignore_index`` and
    ``void_values`` -> ignore, anything else -> -1 (unknown)."""
    table = np.full(256, _UNKNOWN, np.int16)
    table[:num_classes] = np.arange(num_classes)
    for v in (*void_values, ignore_index):
        if 0 <= v < 256:
            table[v] = ignore_index
    return table


def encode_index_label(
    mask: np.ndarray,
    table: np.ndarray,
    ignore_index: int,
    unknown: str = "ignore",
    source: str = "label",
) -> EncodeResult:
    """Raw index mask -> class indices through a 256-entry table (e.g. SegNet 11 -> ignore)."""
    idx = table[mask]
    bad = idx == _UNKNOWN
    n_bad = int(np.count_nonzero(bad))
    if n_bad:
        if unknown == "error":
            vals = np.unique(mask[bad])[:5].tolist()
            raise DataError(
                f"{source}: {n_bad} pixels have values {vals} that are not classes; "
                "set dataset.unknown_colors=ignore to map them to the ignore index"
            )
        idx[bad] = ignore_index
    return EncodeResult(idx.astype(np.uint8), n_bad)


def decode_mask(mask: np.ndarray, class_map: ClassMap) -> np.ndarray:
    """Index mask -> RGB colour image (ignore and out-of-range indices drawn black)."""
    pal = np.asarray(class_map.palette(), dtype=np.uint8)
    return pal[mask.astype(np.uint8)]


def resize_image(image: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Area interpolation when shrinking (no aliasing), linear when enlarging."""
    h, w = int(size_hw[0]), int(size_hw[1])
    if image.shape[:2] == (h, w):
        return image
    shrink = h < image.shape[0] or w < image.shape[1]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cv2.resize(image, (w, h), interpolation=interp)


def resize_mask(mask: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Nearest neighbour only: a label must never be blended into a class that isn't there.
    Works for index masks (H, W) and colour labels (H, W, 3) alike."""
    h, w = int(size_hw[0]), int(size_hw[1])
    if mask.shape[:2] == (h, w):
        return mask
    return cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
