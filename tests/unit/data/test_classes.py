"""ClassMap: loaders for each dataset's class file, merges, and their failure messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from segtrain.data.classes import ClassMap, apply_merges, hex_to_rgb
from segtrain.errors import ConfigError, DataError

A2D2_MINI = {
    "#ff0000": "Car 1",
    "#c80000": "Car 2",
    "#ff00ff": "RD normal street",
    "#87ceff": "Sky",
    "#60458f": "Blurred area",
}


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj))
    return path


def test_a2d2_json_keeps_file_order_and_colours(tmp_path):
    cm = ClassMap.from_a2d2_json(write_json(tmp_path / "class_list.json", A2D2_MINI))
    assert cm.names == ["Car 1", "Car 2", "RD normal street", "Sky", "Blurred area"]
    assert cm.colors[2] == (255, 0, 255)
    assert cm.num_classes == 5 and cm.ignore_index == 255


def test_real_a2d2_class_list_has_55_classes_and_38_categories(shared_data):
    cm = ClassMap.from_a2d2_json(shared_data / "a2d2-sample/camera_lidar_semantic/class_list.json")
    assert cm.num_classes == 55
    merged = apply_merges(cm, "a2d2_38")
    assert merged.num_classes == 38
    # every source colour still decodes, to its merged class
    assert merged.color_table()[hex_to_rgb("#800000")] == merged.index("Car")
    assert merged.names.index("Car") == 0  # A2D2's own order is kept


def test_kaggle_csv_with_leading_spaces_and_no_trailing_newline(tmp_path):
    p = tmp_path / "class_dict.csv"
    p.write_text("name,r,g,b\nSky,128,128, 128\n Road,128, 64,128\nVoid,0,0,0")
    cm = ClassMap.from_kaggle_csv(p)
    assert cm.names == ["Sky", "Road"]
    assert cm.colors == [(128, 128, 128), (128, 64, 128)]
    assert cm.extra_colors == {(0, 0, 0): 255}  # Void is ignored, not a class


def test_real_kaggle_class_dict_parses(shared_data):
    cm = ClassMap.from_kaggle_csv(shared_data / "camvid-kaggle-meta/class_dict.csv")
    assert cm.num_classes == 31  # 32 rows, Void is the ignore colour
    assert "Void" not in cm.names and cm.index("Wall") == cm.num_classes - 1
    assert cm.colors[cm.index("Bicyclist")] == (0, 128, 192)


def test_driving_preset_ignores_listed_classes(tmp_path):
    cm = ClassMap.from_a2d2_json(write_json(tmp_path / "c.json", A2D2_MINI))
    merged = cm.merge(
        {
            "Car": ["Car *"],
            "Road": ["RD normal street"],
            "Sky": ["Sky"],
            "__ignore__": ["Blurred area"],
        },
        keep_rest=False,
    )
    assert merged.names == ["Car", "Road", "Sky"]
    table = merged.color_table()
    assert table[(200, 0, 0)] == 0 and table[hex_to_rgb("#60458f")] == 255


def test_merge_errors_name_the_problem(tmp_path):
    cm = ClassMap.from_a2d2_json(write_json(tmp_path / "c.json", A2D2_MINI))
    with pytest.raises(ConfigError, match="matches no class"):
        cm.merge({"Truck": ["Truck *"]})
    with pytest.raises(ConfigError, match="in both"):
        cm.merge({"A": ["Car 1"], "B": ["Car *"]})
    with pytest.raises(ConfigError, match="neither a preset"):
        apply_merges(cm, "no_such_preset")


def test_merge_file(tmp_path):
    cm = ClassMap.from_a2d2_json(write_json(tmp_path / "c.json", A2D2_MINI))
    spec = write_json(tmp_path / "merge.json", {"Vehicle": ["Car *"]})
    assert apply_merges(cm, str(spec)).names == [
        "Vehicle",
        "RD normal street",
        "Sky",
        "Blurred area",
    ]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("not json", "not a readable JSON"),
        ('{"ff0000x": "Car"}', "not a #rrggbb"),
        ("[]", "expected a JSON object"),
    ],
)
def test_bad_a2d2_class_list(tmp_path, content, match):
    p = tmp_path / "class_list.json"
    p.write_text(content)
    with pytest.raises(DataError, match=match) as exc:
        ClassMap.from_a2d2_json(p)
    assert str(p) in str(exc.value)


def test_ignore_index_cannot_be_a_class():
    with pytest.raises(ValueError, match="collides"):
        ClassMap(["a", "b"], [(0, 0, 1), (0, 0, 2)], ignore_index=1)


def test_round_trip_and_fingerprint():
    cm = ClassMap(["a", "b"], [(1, 2, 3), (4, 5, 6)], extra_colors={(9, 9, 9): 255})
    again = ClassMap.from_dict(json.loads(json.dumps(cm.to_dict())))
    assert again == cm and again.fingerprint() == cm.fingerprint()
    assert ClassMap(["a", "b"], [(1, 2, 3), (4, 5, 7)]).fingerprint() != cm.fingerprint()
