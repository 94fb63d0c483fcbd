"""Synthetic scenes: real A2D2 layout and colours, deterministic, every class drawn."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pytest

from segtrain.data.classes import ClassMap
from segtrain.data.encode import encode_color_label
from segtrain.data.formats.synthetic import generate
from segtrain.data.io import read_color_label
from segtrain.data.scenes import SYNTH_CLASSES, make_world, render_frame
from segtrain.errors import DataError

LAYOUT = re.compile(
    r"camera_lidar_semantic/(\d{8}_\d{6})/(camera|label)/cam_front_center/"
    r"(\d{14})_(camera|label)_frontcenter_(\d{9})\.png$"
)


def digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.png")):
        h.update(p.relative_to(root).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def test_files_follow_the_a2d2_layout(tiny_synth, tmp_path):
    root = tmp_path / "synth"
    assert generate(root, tiny_synth) is True
    pngs = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))
    assert len(pngs) == 2 * 3 * 4
    for p in pngs:
        m = LAYOUT.search(p)
        assert m, p
        assert m[2] == m[4] and m[1].replace("_", "") == m[3]


def test_class_list_uses_real_a2d2_colours_and_only_drawn_classes(
    tiny_synth, tmp_path, shared_data
):
    root = tmp_path / "synth"
    generate(root, tiny_synth)
    ours = json.loads((root / "camera_lidar_semantic/class_list.json").read_text())
    real = json.loads(
        (shared_data / "a2d2-sample/camera_lidar_semantic/class_list.json").read_text()
    )
    assert 10 <= len(ours) <= 12
    for colour, name in ours.items():
        assert real[colour] == name


def test_every_label_pixel_is_a_listed_class_and_all_classes_appear(tiny_synth, tmp_path):
    root = tmp_path / "synth"
    generate(root, tiny_synth)
    cm = ClassMap.from_a2d2_json(root / "camera_lidar_semantic/class_list.json")
    seen = np.zeros(cm.num_classes, int)
    for p in root.rglob("label/*/*.png"):
        res = encode_color_label(read_color_label(p), cm, unknown="error", source=str(p))
        seen += np.bincount(res.mask.ravel(), minlength=cm.num_classes)
    # small classes (signs, poles, pedestrians) exist even in this tiny set
    assert (seen > 0).all(), dict(zip(cm.names, seen, strict=True))


def test_generation_is_deterministic_and_seeded(tiny_synth, tmp_path):
    generate(tmp_path / "a", tiny_synth)
    generate(tmp_path / "b", tiny_synth)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    tiny_synth.synth.seed = 1
    generate(tmp_path / "c", tiny_synth)
    assert digest(tmp_path / "c") != digest(tmp_path / "a")


def test_reuse_and_regenerate_on_changed_parameters_only_when_forced(tiny_synth, tmp_path):
    root = tmp_path / "synth"
    assert generate(root, tiny_synth) is True
    assert generate(root, tiny_synth) is False  # already there
    before = digest(root)
    tiny_synth.synth.frames_per_sequence = 2
    tiny_synth.synth.seed = 5
    with pytest.raises(DataError) as err:
        generate(root, tiny_synth)
    msg = str(err.value)
    assert "\n" not in msg and str(root) in msg and "force=true" in msg
    assert "frames_per_sequence 4 -> 2" in msg and "seed 0 -> 5" in msg
    assert "num_sequences" not in msg and "height" not in msg  # only the differing keys
    assert digest(root) == before  # nothing touched
    assert generate(root, tiny_synth, force=True) is True
    assert len(list(root.rglob("camera/*/*.png"))) == 3 * 2


def test_never_generates_into_a_folder_segtrain_did_not_make(tiny_synth, tmp_path):
    root = tmp_path / "camvid"
    (root / "701_StillsRaw_full").mkdir(parents=True)
    (root / "701_StillsRaw_full" / "0001TP_006690.png").write_bytes(b"mine")
    (root / "manifest.jsonl").write_text('{"id": "a", "image": "x.png", "group": "g"}\n')
    for force in (False, True):
        with pytest.raises(DataError) as err:
            generate(root, tiny_synth, force=force)
        msg = str(err.value)
        assert "\n" not in msg and str(root) in msg and "did not generate" in msg
    assert sorted(p.name for p in root.rglob("*")) == [
        "0001TP_006690.png",
        "701_StillsRaw_full",
        "manifest.jsonl",
    ]


def test_generates_into_an_empty_folder_and_resumes_an_interrupted_one(
    tiny_synth, tmp_path, monkeypatch
):
    root = tmp_path / "empty"
    root.mkdir()
    (root / ".segtrain.lock").touch()  # what ensure_data creates before generating
    assert generate(root, tiny_synth) is True
    expected = digest(root)

    import segtrain.data.formats.synthetic as synthetic

    calls = {"n": 0}
    real = synthetic.write_png

    def dying_write(path, arr):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt  # killed mid-generation
        real(path, arr)

    other = tmp_path / "killed"
    monkeypatch.setattr(synthetic, "write_png", dying_write)
    with pytest.raises(KeyboardInterrupt):
        generate(other, tiny_synth)
    monkeypatch.setattr(synthetic, "write_png", real)
    tiny_synth.synth.seed = 0
    assert generate(other, tiny_synth) is True  # ours, unfinished: regenerated, no force
    assert digest(other) == expected


def test_refuses_to_overwrite_a_real_dataset(tiny_synth, tmp_path):
    root = tmp_path / "real"
    (root / "camera_lidar_semantic/20180807_145028").mkdir(parents=True)
    with pytest.raises(DataError, match="did not generate"):
        generate(root, tiny_synth)


def test_frames_vary_within_and_between_sequences():
    w0, w1 = make_world(0, 64, 96, 10), make_world(1, 64, 96, 10)
    a, la = render_frame(w0, 0)
    b, _ = render_frame(w0, 5)
    c, _ = render_frame(w1, 0)
    assert a.dtype == np.uint8 and a.shape == (64, 96, 3) and la.shape == (64, 96)
    assert np.abs(a.astype(int) - b).mean() > 5 and np.abs(a.astype(int) - c).mean() > 5
    assert la.max() < len(SYNTH_CLASSES)


#: sha256 of every frame's image and label bytes, made by the generator before its split
#: into world/camera/render/things: the README's figures depend on these exact frames
FRAME_HASHES = {
    0: "083d8488cda6e2c6d7de0666f1947faed934632dffb38fcd37b2a324a3fcf688",
    1: "86d033be99afe908c265eee0b3c1c951db8ba94a852bc0b16f96ca3e820abdaa",
    2: "91fdab2bd2989c95834d51e0fc27c869fb0c4dacd438278f5349282796c37e37",
}


@pytest.mark.parametrize("seq", sorted(FRAME_HASHES))
def test_frames_are_byte_identical_to_the_reference(seq):
    world = make_world(seq, 64, 96, 4)
    h = hashlib.sha256()
    for t in range(4):
        image, label = render_frame(world, t)
        h.update(image.tobytes())
        h.update(label.tobytes())
    assert h.hexdigest() == FRAME_HASHES[seq]
