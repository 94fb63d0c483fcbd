"""Folder datasets: images/ + masks/, colour or index masks, given or group splits."""

from __future__ import annotations

import json

import numpy as np
import pytest

from segtrain.data.io import write_png
from segtrain.data.source import open_split
from segtrain.errors import DataError


def make_folder(root, kind="color", splits=False):
    rng = np.random.default_rng(0)
    colours = {"#000080": "water", "#00ff00": "grass"}
    if kind == "color":
        (root / "class_list.json").parent.mkdir(parents=True, exist_ok=True)
        (root / "class_list.json").write_text(json.dumps(colours))
    else:
        root.mkdir(parents=True, exist_ok=True)
        (root / "classes.txt").write_text("water\ngrass\n")
    lut = np.array([[0, 0, 128], [0, 255, 0]], np.uint8)
    masks = {}
    for i in range(6):
        sub = (("train" if i < 4 else "val") + "/") if splits else ""
        name = f"{sub}site{i % 3}/img{i}"
        idx = rng.integers(0, 2, (16, 24)).astype(np.uint8)
        write_png(root / "images" / f"{name}.png", rng.integers(0, 255, (16, 24, 3), np.uint8))
        write_png(root / "masks" / f"{name}.png", lut[idx] if kind == "color" else idx)
        masks[name] = idx
    return masks


@pytest.mark.parametrize("kind", ["color", "index"])
def test_folder_reads_colour_and_index_masks(tmp_path, dataset_cfg, kind):
    masks = make_folder(tmp_path / "f", kind)
    cfg = dataset_cfg(
        tmp_path / "f", format="folder", image_size=[16, 24], split__val_fraction=0.34
    )
    train, val = open_split(cfg, "train"), open_split(cfg, "val")
    assert len(train) + len(val) == 6 and train.class_map.names == ["water", "grass"]
    for src in (train, val):
        for i in range(len(src)):
            assert np.array_equal(src[i].mask, masks[src.ids[i]])
    # groups are the first sub-directory: no site on both sides
    assert not {i.split("/")[0] for i in train.ids} & {i.split("/")[0] for i in val.ids}


def test_folder_split_subdirectories_are_used_as_given(tmp_path, dataset_cfg):
    make_folder(tmp_path / "f", splits=True)
    cfg = dataset_cfg(tmp_path / "f", format="folder", image_size=[16, 24], split__by="given")
    assert len(open_split(cfg, "train")) == 4 and len(open_split(cfg, "val")) == 2


def test_folder_without_class_list(tmp_path, dataset_cfg):
    make_folder(tmp_path / "f")
    (tmp_path / "f/class_list.json").unlink()
    with pytest.raises(DataError, match="no class list"):
        open_split(dataset_cfg(tmp_path / "f", format="folder"), "train")


def test_folder_wrong_layout(tmp_path, dataset_cfg):
    (tmp_path / "x/camera_lidar_semantic").mkdir(parents=True)
    with pytest.raises(DataError, match=r"images/ and masks/.*use dataset=a2d2"):
        open_split(dataset_cfg(tmp_path / "x", format="folder"), "train")
