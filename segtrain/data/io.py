"""Reading and writing image files with errors a user can act on.

OpenCV returns ``None`` for an unreadable file and PIL raises a zoo of exceptions for
truncated ones; both become one :class:`DataError` naming the file. Everything here
returns RGB (never BGR) ``uint8`` arrays.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np

from segtrain.errors import DataError

# decoding is done per sample in worker processes; OpenCV's own thread pool only competes
cv2.setNumThreads(1)


def _read_bytes(path: str | Path) -> np.ndarray:
    """File bytes, checked for emptiness and (PNG) truncation."""
    path = Path(path)
    try:
        buf = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if buf.size == 0:
        raise DataError(f"{path}: empty file, expected a PNG/JPEG image")
    if path.suffix.lower() == ".png" and not _png_complete(buf):
        raise DataError(f"{path}: truncated or corrupt PNG (no IEND chunk); re-download it")
    return buf


def _decode(path: str | Path, flags: int) -> np.ndarray:
    buf = _read_bytes(path)
    img = cv2.imdecode(buf, flags)
    if img is None:
        raise DataError(f"{path}: not a decodable image (corrupt or unsupported format)")
    return img


def _png_complete(buf: np.ndarray) -> bool:
    """A PNG must start with its signature and end with the IEND chunk."""
    return (
        buf.size >= 20
        and bytes(buf[:8]) == b"\x89PNG\r\n\x1a\n"
        and bytes(buf[-12:-4]) == b"\x00\x00\x00\x00IEND"
    )


def read_image(path: str | Path) -> np.ndarray:
    """uint8 RGB (H, W, 3); grey images are expanded, alpha is dropped."""
    img = _decode(path, cv2.IMREAD_UNCHANGED)
    if img.dtype != np.uint8:
        if img.dtype == np.uint16:
            img = (img >> 8).astype(np.uint8)
        else:
            raise DataError(f"{path}: unsupported pixel type {img.dtype}, expected 8-bit")
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.shape[2] == 4:
        img = img[:, :, :3]
    elif img.shape[2] != 3:
        raise DataError(f"{path}: {img.shape[2]} channels, expected RGB")
    return np.ascontiguousarray(img[:, :, ::-1])


def read_color_label(path: str | Path) -> np.ndarray:
    """Colour-coded label as uint8 RGB (H, W, 3); a 4th (alpha) channel is dropped
    (real A2D2 has such files)."""
    img = _decode(path, cv2.IMREAD_UNCHANGED)
    if img.dtype != np.uint8:
        raise DataError(f"{path}: label has {img.dtype} pixels, expected 8-bit RGB colours")
    if img.ndim == 2:
        raise DataError(
            f"{path}: single-channel label where an RGB colour label was expected "
            "(is this an index-mask dataset? try dataset.format=camvid_segnet or folder)"
        )
    return np.ascontiguousarray(img[:, :, 2::-1])


def read_index_label(path: str | Path) -> np.ndarray:
    """8-bit class-index mask (H, W); palette PNGs are read as their indices."""
    path = Path(path)
    if path.suffix.lower() == ".png":
        # cv2 expands palette PNGs to colours; PIL keeps the indices
        from PIL import Image

        buf = _read_bytes(path)
        try:
            with Image.open(io.BytesIO(buf.tobytes())) as im:
                mode = im.mode
                arr = np.asarray(im)
        except OSError as exc:
            raise DataError(f"{path}: corrupt PNG ({exc})") from None
        if mode in ("P", "L"):
            return np.ascontiguousarray(arr, dtype=np.uint8)
        if mode.startswith("I"):
            if arr.max(initial=0) > 255:
                raise DataError(f"{path}: index label has values > 255")
            return arr.astype(np.uint8)
        raise DataError(
            f"{path}: {mode} label where an 8-bit index mask was expected "
            "(is this a colour-label dataset? try dataset.format=camvid or a2d2)"
        )
    img = _decode(path, cv2.IMREAD_UNCHANGED)
    if img.ndim != 2:
        raise DataError(f"{path}: {img.shape[2]}-channel label, expected an 8-bit index mask")
    return img.astype(np.uint8, copy=False)


def image_size_of(path: str | Path) -> tuple[int, int]:
    """(height, width) from the file header only (cheap checks over many files); a PNG
    must also end with its IEND chunk (reads 12 bytes at the end: catches truncation)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if path.suffix.lower() == ".png":
        try:
            with open(path, "rb") as fh:
                head = fh.read(8)
                fh.seek(0, os.SEEK_END)
                if fh.tell() >= 20:
                    fh.seek(-12, os.SEEK_END)
                tail = fh.read(12)
        except FileNotFoundError:
            raise DataError(f"{path}: file not found") from None
        except OSError as exc:
            raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        if head != b"\x89PNG\r\n\x1a\n" or tail[:8] != b"\x00\x00\x00\x00IEND":
            raise DataError(
                f"{path}: truncated or corrupt PNG (not a readable image "
                "or no IEND chunk); re-download it"
            )
    try:
        with Image.open(path) as im:
            w, h = im.size
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{path}: not a readable image ({exc})") from None
    return h, w


def write_png(path: str | Path, rgb_or_index: np.ndarray) -> None:
    """Write RGB (H, W, 3) or index (H, W) uint8 as PNG, atomically (temp + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = rgb_or_index
    if arr.ndim == 3:
        arr = np.ascontiguousarray(arr[:, :, ::-1])
    ok, enc = cv2.imencode(".png", arr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise DataError(f"{path}: PNG encoding failed")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    enc.tofile(tmp)
    os.replace(tmp, path)
