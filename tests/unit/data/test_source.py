"""open_split: ready on first use, the Sample contract, and clear errors for bad datasets."""

from __future__ import annotations

import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from segtrain.data.catalog import build_catalog
from segtrain.data.io import read_color_label, write_png
from segtrain.data.source import RawSource, load_class_map, open_split
from segtrain.errors import ConfigError, DataError


def test_fresh_root_is_generated_split_and_read(tiny_synth):
    train, val = open_split(tiny_synth, "train"), open_split(tiny_synth, "val")
    assert (len(train), len(val)) == (8, 4)
    assert not {i.split("/")[0] for i in train.ids} & {i.split("/")[0] for i in val.ids}
    s = train[0]
    assert s.id == train.ids[0] and "/front_center/" in s.id
    assert s.image.dtype == np.uint8 and s.image.shape == (64, 96, 3)
    assert s.mask.dtype == np.uint8 and s.mask.shape == (64, 96)
    assert s.mask.max() < train.class_map.num_classes


def test_samples_are_resized_to_image_size(tiny_synth):
    tiny_synth.image_size = [32, 40]
    s = open_split(tiny_synth, "val")[1]
    assert s.image.shape == (32, 40, 3) and s.mask.shape == (32, 40)


def test_num_samples_caps_each_split_deterministically(tiny_synth):
    tiny_synth.num_samples = 3
    a, b = open_split(tiny_synth, "train"), open_split(tiny_synth, "train")
    assert len(a) == 3 and a.ids == b.ids


def test_source_pickles_for_worker_processes(tiny_synth):
    src = open_split(tiny_synth, "train")
    clone = pickle.loads(pickle.dumps(src))
    assert np.array_equal(clone[2].mask, src[2].mask)


def test_class_map_without_generating(tiny_synth):
    cm = load_class_map(tiny_synth)
    assert cm.names[:2] == ["Sky", "RD normal street"] and not (
        tiny_synth.root and (__import__("pathlib").Path(tiny_synth.root)).exists()
    )


def test_empty_split_is_an_error(tiny_synth):
    with pytest.raises(DataError, match=r"'test' split .* is empty"):
        open_split(tiny_synth, "test")
    with pytest.raises(ConfigError, match="expected 'train', 'val' or 'test'"):
        open_split(tiny_synth, "validation")


def test_missing_root_of_a_real_dataset_gives_a_hint(dataset_cfg, tmp_path):
    cfg = dataset_cfg(tmp_path / "nowhere", name="a2d2", format="a2d2")
    with pytest.raises(DataError, match=r"does not exist.*segtrain data prepare"):
        open_split(cfg, "train")


def test_empty_root(dataset_cfg, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="is empty"):
        open_split(dataset_cfg(tmp_path / "empty", format="a2d2"), "train")


def test_a2d2_reader_pointed_at_camvid_says_so(dataset_cfg, tmp_path):
    root = tmp_path / "camvid"
    for d in ("train", "trainannot", "val", "valannot"):
        (root / d).mkdir(parents=True)
    with pytest.raises(DataError, match=r"not in the A2D2 layout.*camvid_segnet"):
        open_split(dataset_cfg(root, format="a2d2"), "train")


def _break(tiny_synth, what):
    build_catalog(tiny_synth)  # generate, then damage the files
    root = __import__("pathlib").Path(tiny_synth.root)
    (root / "manifest.jsonl").unlink()
    labels = sorted(root.rglob("label/*/*.png"))
    if what == "missing":
        labels[0].unlink()
    elif what == "size":
        write_png(labels[0], np.zeros((10, 10, 3), np.uint8))
    elif what == "corrupt":
        labels[0].write_bytes(labels[0].read_bytes()[:100])
    return labels[0]


@pytest.mark.parametrize(
    ("what", "match"),
    [
        ("missing", "no label file"),
        ("size", "must match"),
        ("corrupt", "not a readable image"),
    ],
)
def test_bad_samples_error_by_default(tiny_synth, what, match):
    bad = _break(tiny_synth, what)
    with pytest.raises(DataError, match=match) as exc:
        open_split(tiny_synth, "train")
    assert bad.name.replace("_label_", "_camera_") in str(exc.value) or bad.name in str(exc.value)
    assert "on_error=skip" in str(exc.value)


@pytest.mark.parametrize("what", ["corrupt", "jpeg"])
def test_a_bad_image_is_named_once_with_its_real_format(tiny_synth, what):
    build_catalog(tiny_synth)
    root = Path(tiny_synth.root)
    (root / "manifest.jsonl").unlink()
    bad = sorted(root.rglob("camera/*/*.png"))[0]
    if what == "jpeg":
        bad.write_bytes(cv2.imencode(".jpg", np.zeros((64, 96, 3), np.uint8))[1].tobytes())
    else:
        bad.write_bytes(bad.read_bytes()[:100])
    with pytest.raises(DataError) as err:
        build_catalog(tiny_synth)
    msg = str(err.value)
    assert msg.count(bad.name) == 1, msg
    if what == "jpeg":
        assert "JPEG" in msg and "corrupt PNG" not in msg, msg


def test_unknown_colours_are_counted_at_the_labels_native_resolution(tiny_synth):
    tiny_synth.image_size = [32, 48]  # half the generated 64x96
    src = open_split(tiny_synth, "train")
    lab = src.root / src.records[0].label
    colour = read_color_label(lab)
    colour[:50, :50] = (1, 2, 3)  # 2,500 pixels of a colour outside the class list
    write_png(lab, colour)
    _, mask, unknown = src.load(src.records[0])
    assert unknown == 2500
    assert mask.shape == (32, 48) and (mask[:25, :25] == src.class_map.ignore_index).all()


def test_implicit_generation_never_writes_into_a_foreign_folder(tiny_synth, tmp_path):
    root = tmp_path / "camvid"
    (root / "train").mkdir(parents=True)
    (root / "manifest.jsonl").write_text("{}\n")
    tiny_synth.root = str(root)
    with pytest.raises(DataError, match="did not generate"):
        open_split(tiny_synth, "val")
    assert sorted(p.name for p in root.iterdir()) == ["manifest.jsonl", "train"]
    assert (root / "manifest.jsonl").read_text() == "{}\n"


@pytest.mark.parametrize("what", ["missing", "size", "corrupt"])
def test_bad_samples_are_skipped_and_counted_on_request(tiny_synth, what):
    _break(tiny_synth, what)
    tiny_synth.on_error = "skip"
    cat = build_catalog(tiny_synth)
    assert len(cat.skipped) == 1 and len(cat.records) == 11


def test_truncated_png_in_raw_reading_names_the_file(tiny_synth):
    src = open_split(tiny_synth, "train")
    assert isinstance(src, RawSource)
    img = src.root / src.records[0].image
    img.write_bytes(img.read_bytes()[:-30])
    with pytest.raises(DataError, match=f"{img.name}: truncated or corrupt PNG"):
        src[0]


def test_skip_policy_replaces_an_undecodable_sample_while_reading(tiny_synth, caplog):
    src = open_split(tiny_synth, "train")
    img = src.root / src.records[0].image
    data = bytearray(img.read_bytes())
    data[60:400] = b"\x00" * 340  # corrupt pixels, header and IEND intact
    img.write_bytes(bytes(data))
    with pytest.raises(DataError):
        src[0]
    tiny_synth.on_error = "skip"
    src = open_split(tiny_synth, "train")
    assert src[0].id == src.ids[1] and src.skipped == {src.ids[0]}
    assert "skipping" in caplog.text


def test_importing_the_data_side_imports_no_framework():
    code = (
        "import sys, segtrain.data.source, segtrain.data.transforms, segtrain.data.cache, "
        "segtrain.data.commands, segtrain.data.inspect, segtrain.data.storage; "
        "print(sorted(m for m in ('torch', 'tensorflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_manifest_on_a_read_only_root_stays_in_memory(tiny_synth, tmp_path):
    build_catalog(tiny_synth)
    ro = tmp_path / "ro"
    shutil.copytree(tiny_synth.root, ro)
    (ro / "manifest.jsonl").unlink()
    tiny_synth.root = str(ro)
    tiny_synth.format = "a2d2"
    tiny_synth.manifest = str(tmp_path / "elsewhere" / "m.jsonl")
    assert len(open_split(tiny_synth, "val")) == 4
    assert (tmp_path / "elsewhere" / "m.jsonl").is_file()
