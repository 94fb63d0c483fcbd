"""The readers on the real sample data in ../shared/data (skipped when it is absent)."""

from __future__ import annotations

import numpy as np
import pytest

from segtrain.data.classes import ClassMap
from segtrain.data.formats.camvid import SEGNET_CLASSES
from segtrain.data.io import read_index_label, write_png
from segtrain.data.source import load_class_map, open_split

FRAME = "20180807_145028/front_center/000006882"


@pytest.fixture
def a2d2_cfg(shared_data, dataset_cfg, tmp_path):
    # full resolution so pixel counts are those of the files; manifest outside shared data
    return dataset_cfg(
        shared_data / "a2d2-sample",
        name="a2d2",
        format="a2d2",
        image_size=[1208, 1920],
        manifest=str(tmp_path / "m.jsonl"),
        split__val_fraction=0.13,
    )


def test_a2d2_seven_frames_split_by_sequence(a2d2_cfg):
    train, val = open_split(a2d2_cfg, "train"), open_split(a2d2_cfg, "val")
    assert len(train) + len(val) == 7 and len(val) >= 1
    assert val.ids == ["20181108_141609/front_center/000011097"]  # last sorted sequence
    assert train.class_map.num_classes == 55


def test_a2d2_known_pixels_and_class_counts(a2d2_cfg):
    src = open_split(a2d2_cfg, "train")
    s = src[src.ids.index(FRAME)]
    cm = src.class_map
    assert s.image.shape == (1208, 1920, 3) and s.mask.shape == (1208, 1920)
    assert cm.names[s.mask[0, 0]] == "Sky"
    assert cm.names[s.mask[700, 960]] == "Car 3"
    assert cm.names[s.mask[1100, 200]] == "RD normal street"
    counts = np.bincount(s.mask.ravel(), minlength=256)
    assert counts[cm.index("Nature object")] == 822874
    assert counts[cm.index("Sky")] == 537128
    assert counts[cm.index("RD normal street")] == 516316
    assert counts[cm.index("Car 1")] == 168512
    assert counts[255] == 0  # every colour of the real label is in class_list.json


def test_a2d2_merged_to_38_categories(a2d2_cfg):
    a2d2_cfg.class_merges = "a2d2_38"
    a2d2_cfg.image_size = [302, 480]
    src = open_split(a2d2_cfg, "train")
    assert src.class_map.num_classes == 38
    s = src[src.ids.index(FRAME)]
    assert s.mask.max() < 38


def test_a2d2_alpha_label_is_read(a2d2_cfg, shared_data, tmp_path):
    """Real A2D2 has 4-channel labels (e.g. in 20180925_135056): alpha is dropped."""
    import shutil

    import cv2

    root = tmp_path / "a2d2"
    src = next((shared_data / "a2d2-sample/camera_lidar_semantic").glob("2018*"))
    shutil.copytree(src, root / "camera_lidar_semantic" / src.name)
    shutil.copy(
        shared_data / "a2d2-sample/camera_lidar_semantic/class_list.json",
        root / "camera_lidar_semantic",
    )
    lab = next(root.rglob("label/*/*.png"))
    bgr = cv2.imread(str(lab))
    cv2.imwrite(
        str(lab),
        np.dstack([bgr, np.full(bgr.shape[:2], 255, np.uint8)]),
        [cv2.IMWRITE_PNG_COMPRESSION, 1],
    )
    assert cv2.imread(str(lab), cv2.IMREAD_UNCHANGED).shape[2] == 4
    a2d2_cfg.root = str(root)
    a2d2_cfg.image_size = [151, 240]
    a2d2_cfg.split.by = "frame"
    a2d2_cfg.split.val_fraction = 0.0
    s = open_split(a2d2_cfg, "train")[0]
    assert s.mask.shape == (151, 240) and s.mask.max() < 55


def test_camvid_segnet_train_val(shared_data, dataset_cfg, tmp_path):
    cfg = dataset_cfg(
        shared_data / "camvid-segnet",
        name="camvid_segnet",
        format="camvid_segnet",
        image_size=[360, 480],
        split__by="given",
        manifest=str(tmp_path / "m.jsonl"),
    )
    train, val = open_split(cfg, "train"), open_split(cfg, "val")
    assert (len(train), len(val)) == (367, 101)
    assert train.class_map.names == SEGNET_CLASSES
    s = val[0]
    raw = read_index_label(shared_data / "camvid-segnet/valannot" / (s.id.split("/")[1] + ".png"))
    expect = np.where(raw == 11, 255, raw)
    assert np.array_equal(s.mask, expect)


@pytest.fixture
def kaggle_fixture(shared_data, tmp_path):
    """A Kaggle-layout CamVid made from SegNet labels recoloured with Kaggle colours."""
    kaggle = ClassMap.from_kaggle_csv(shared_data / "camvid-kaggle-meta/class_dict.csv")
    names = {"Pole": "Column_Pole", "Pavement": "Sidewalk"}
    colours = [kaggle.colors[kaggle.index(names.get(n, n))] for n in SEGNET_CLASSES]
    lut = np.zeros((256, 3), np.uint8)
    lut[: len(colours)] = colours
    lut[11] = (0, 0, 0)  # Void
    root = tmp_path / "camvid"
    src_root = shared_data / "camvid-segnet"
    picked = {
        "train": sorted((src_root / "train").glob("*.png"))[::60],
        "val": sorted((src_root / "val").glob("*.png"))[::40],
    }
    for split, files in picked.items():
        for img in files:
            (root / split).mkdir(parents=True, exist_ok=True)
            (root / split / img.name).write_bytes(img.read_bytes())
            idx = read_index_label(src_root / f"{split}annot" / img.name)
            write_png(root / f"{split}_labels" / f"{img.stem}_L.png", lut[idx])
    (root / "class_dict.csv").write_bytes(
        (shared_data / "camvid-kaggle-meta/class_dict.csv").read_bytes()
    )
    return root, picked, kaggle


def test_kaggle_layout_reads_back_the_segnet_indices(kaggle_fixture, dataset_cfg, shared_data):
    root, picked, kaggle = kaggle_fixture
    cfg = dataset_cfg(
        root, name="camvid", format="camvid", image_size=[360, 480], split__by="given"
    )
    val = open_split(cfg, "val")
    assert len(val) == len(picked["val"]) and len(open_split(cfg, "train")) == len(picked["train"])
    assert load_class_map(cfg).num_classes == 31
    names = {"Pole": "Column_Pole", "Pavement": "Sidewalk"}
    to_kaggle = np.full(256, 255, np.uint8)
    for i, n in enumerate(SEGNET_CLASSES):
        to_kaggle[i] = kaggle.index(names.get(n, n))
    for i, img in enumerate(sorted(picked["val"])):
        raw = read_index_label(shared_data / "camvid-segnet/valannot" / img.name)
        assert np.array_equal(val[i].mask, to_kaggle[raw])
