"""Image reading: RGB order, alpha dropped, one DataError naming the file for bad files."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segtrain.data.io import (
    image_size_of,
    read_color_label,
    read_image,
    read_index_label,
    write_png,
)
from segtrain.errors import DataError


def test_png_round_trip_is_rgb(tmp_path):
    img = np.zeros((4, 5, 3), np.uint8)
    img[..., 0] = 200  # red
    write_png(tmp_path / "a.png", img)
    back = read_image(tmp_path / "a.png")
    assert back.shape == (4, 5, 3) and back[0, 0].tolist() == [200, 0, 0]


def test_label_alpha_channel_is_dropped(tmp_path):
    rgba = np.zeros((3, 3, 4), np.uint8)
    rgba[..., 2] = 255  # BGR(A) order for cv2: this is red
    rgba[..., 3] = 128
    cv2.imwrite(str(tmp_path / "l.png"), rgba)
    assert read_color_label(tmp_path / "l.png")[0, 0].tolist() == [255, 0, 0]
    assert read_image(tmp_path / "l.png").shape == (3, 3, 3)


def test_truncated_png_names_the_file(tmp_path):
    write_png(tmp_path / "t.png", np.full((32, 32, 3), 7, np.uint8))
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"t\.png: truncated or corrupt PNG"):
        read_image(tmp_path / "t.png")


@pytest.mark.parametrize(
    ("content", "match"), [(b"", "empty file"), (b"garbage" * 10, "not a decodable image")]
)
def test_bad_files(tmp_path, content, match):
    p = tmp_path / "bad.jpg"
    p.write_bytes(content)
    with pytest.raises(DataError, match=match):
        read_image(p)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_image(tmp_path / "nope.png")


def test_index_label_keeps_palette_indices(tmp_path):
    from PIL import Image

    idx = np.array([[0, 3], [11, 1]], np.uint8)
    im = Image.fromarray(idx, mode="P")
    im.putpalette([255, 0, 0] * 256)
    im.save(tmp_path / "p.png")
    assert read_index_label(tmp_path / "p.png").tolist() == idx.tolist()


def test_index_label_refuses_colour_png(tmp_path):
    write_png(tmp_path / "c.png", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(DataError, match="index mask was expected"):
        read_index_label(tmp_path / "c.png")


def test_a_jpeg_under_a_png_name_is_named_for_what_it_is(tmp_path):
    enc = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1]
    p = tmp_path / "frame.png"
    p.write_bytes(enc.tobytes())
    for read in (read_image, read_index_label, read_color_label, image_size_of):
        with pytest.raises(DataError) as err:
            read(p)
        msg = str(err.value)
        assert "JPEG" in msg and "corrupt PNG" not in msg, msg
        assert msg.count(str(p)) == 1, msg


def test_an_unreadable_file_is_named_once(tmp_path):
    p = tmp_path / "bad.jpg"
    p.write_bytes(b"garbage" * 10)
    with pytest.raises(DataError) as err:
        image_size_of(p)
    assert str(err.value).count("bad.jpg") == 1, str(err.value)
