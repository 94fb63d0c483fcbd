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
from segtrain.runtime.checkpoints import atomic_write

# decoding is done per sample in worker processes; OpenCV's own thread pool only competes
cv2.setNumThreads(1)


#: leading bytes of the image formats a misnamed file most often really is
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


def sniff_format(head: bytes) -> str | None:
    """The image format the first bytes of a file announce (None: none known)."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((name for sig, name in _SIGNATURES if head.startswith(sig)), None)


def _check_png(path: Path, head: bytes, tail: bytes, what: str) -> None:
    """A ``.png`` file must be a PNG and end with its IEND chunk; anything else is named
    for what it is (a JPEG saved under a .png name is not "a corrupt PNG")."""
    kind = sniff_format(head)
    if kind not in (None, "PNG"):
        raise DataError(f"{path}: a {kind} file under a .png name; convert it to PNG")
    if kind is None or tail[:8] != b"\x00\x00\x00\x00IEND":
        raise DataError(f"{path}: truncated or corrupt PNG ({what}); re-download it")


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
    if path.suffix.lower() == ".png":
        tail = bytes(buf[-12:]) if buf.size >= 20 else b""
        _check_png(path, bytes(buf[:12]), tail, "no IEND chunk")
    return buf


def _decode(path: str | Path, flags: int) -> np.ndarray:
    buf = _read_bytes(path)
    img = cv2.imdecode(buf, flags)
    if img is None:
        kind = sniff_format(bytes(buf[:12]))
        raise DataError(
            f"{path}: not a decodable {kind + ' ' if kind else ''}image "
            "(corrupt or unsupported format)"
        )
    return img


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
                head = fh.read(12)
                fh.seek(0, os.SEEK_END)
                if fh.tell() >= 20:
                    fh.seek(-12, os.SEEK_END)
                tail = fh.read(12)
        except FileNotFoundError:
            raise DataError(f"{path}: file not found") from None
        except OSError as exc:
            raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
        _check_png(path, head, tail, "not a readable image or no IEND chunk")
    try:
        with Image.open(path) as im:
            w, h = im.size
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnidentifiedImageError:  # its message repeats the path
        raise DataError(f"{path}: not a readable image (unknown format)") from None
    except OSError as exc:
        with open(path, "rb") as fh:
            kind = sniff_format(fh.read(12))
        raise DataError(
            f"{path}: not a readable {kind + ' ' if kind else ''}image ({exc})"
        ) from None
    return h, w


def write_png(path: str | Path, rgb_or_index: np.ndarray) -> None:
    """Write RGB (H, W, 3) or index (H, W) uint8 as PNG, atomically."""
    path = Path(path)
    arr = rgb_or_index
    if arr.ndim == 3:
        arr = np.ascontiguousarray(arr[:, :, ::-1])
    ok, enc = cv2.imencode(".png", arr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise DataError(f"{path}: PNG encoding failed")
    atomic_write(path, enc.tofile)
