"""Splits never cut a sequence, are deterministic, and never leave val empty."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from segtrain.data.catalog import build_catalog
from segtrain.data.manifest import assign_splits, cap_records, read_manifest
from segtrain.data.records import Record
from segtrain.errors import ConfigError, DataError


def recs(groups: int, per: int) -> list[Record]:
    return [
        Record(f"g{g:02d}/f{f}", f"i{g}_{f}.png", f"l{g}_{f}.png", f"g{g:02d}")
        for g in range(groups)
        for f in range(per)
    ]


def split_cfg(**kw):
    base = {
        "by": "group",
        "val_fraction": 0.2,
        "test_fraction": 0.0,
        "val_groups": [],
        "test_groups": [],
        "seed": 0,
    }
    base.update(kw)
    return base


def groups_of(records, split):
    return {r.group for r in records if r.split == split}


def test_group_split_takes_the_last_sorted_groups_like_the_notebook():
    rs = recs(23, 3)
    rep = assign_splits(rs, split_cfg(val_fraction=0.13))
    assert groups_of(rs, "val") == {"g20", "g21", "g22"}
    assert not groups_of(rs, "val") & groups_of(rs, "train")
    assert rep.counts == {"train": 60, "val": 9, "test": 0}


def test_test_groups_come_before_the_val_groups():
    rs = recs(10, 2)
    assign_splits(rs, split_cfg(val_fraction=0.2, test_fraction=0.1))
    assert groups_of(rs, "val") == {"g08", "g09"} and groups_of(rs, "test") == {"g07"}


def test_explicit_groups_win_and_are_checked():
    rs = recs(5, 2)
    assign_splits(rs, split_cfg(val_groups=["g00"], test_groups=["g01"]))
    assert groups_of(rs, "val") == {"g00"} and groups_of(rs, "test") == {"g01"}
    with pytest.raises(ConfigError, match="unknown groups"):
        assign_splits(rs, split_cfg(val_groups=["nope"]))


def test_one_group_falls_back_to_frames_and_says_so(caplog):
    rs = recs(1, 10)
    with caplog.at_level(logging.WARNING):
        rep = assign_splits(rs, split_cfg())
    assert rep.how == "frame" and "fell back to a per-frame split" in rep.note
    assert "per-frame" in caplog.text
    assert rep.counts["val"] == 2 and rep.counts["train"] == 8


def test_seven_frames_from_seven_sequences_gives_a_non_empty_val():
    rep = assign_splits(recs(7, 1), split_cfg(val_fraction=0.13))
    assert rep.counts["val"] >= 1 and rep.counts["train"] >= 1


def test_frame_split_is_deterministic_and_seeded():
    a, b, c = recs(1, 20), recs(1, 20), recs(1, 20)
    assign_splits(a, split_cfg(by="frame", val_fraction=0.25))
    assign_splits(b, split_cfg(by="frame", val_fraction=0.25))
    assign_splits(c, split_cfg(by="frame", val_fraction=0.25, seed=3))
    assert [r.split for r in a] == [r.split for r in b] != [r.split for r in c]


def test_bad_split_settings():
    with pytest.raises(ConfigError, match="val_fraction"):
        assign_splits(recs(3, 1), split_cfg(val_fraction=1.0))
    with pytest.raises(ConfigError, match="does not define splits"):
        assign_splits(recs(3, 1), split_cfg(by="given"))
    with pytest.raises(DataError, match="too few"):
        assign_splits(recs(1, 1), split_cfg())


def test_cap_is_deterministic_and_spread_over_groups():
    rs = recs(4, 10)
    capped = cap_records(rs, 8)
    assert capped == cap_records(rs, 8)
    assert {r.group for r in capped} == {"g00", "g01", "g02", "g03"}


def test_prepare_is_idempotent_and_rebuilds_on_new_settings(tiny_synth):
    first = build_catalog(tiny_synth)
    text = first.manifest.read_text()
    again = build_catalog(tiny_synth)
    assert not again.rebuilt and again.manifest.read_text() == text
    assert [r.split for r in again.records] == [r.split for r in first.records]
    tiny_synth.split.val_fraction = 0.67
    third = build_catalog(tiny_synth)
    assert third.rebuilt and third.split.counts["val"] == 8


def test_manifest_paths_are_relative_and_records_complete(tiny_synth):
    cat = build_catalog(tiny_synth)
    back = read_manifest(cat.manifest)
    assert len(back) == 12 and all(not r.image.startswith("/") for r in back)
    assert all(r.camera == "front_center" and r.split in ("train", "val") for r in back)
    assert all(r.id.split("/")[1] == "front_center" for r in back)
    assert (cat.root / back[0].image).is_file()


def test_a_manifest_segtrain_did_not_write_is_never_overwritten(tiny_synth):
    build_catalog(tiny_synth)  # generates the data (and segtrain's manifest)
    root = Path(str(tiny_synth.root))
    mine = root / "manifest.jsonl"
    (root / "manifest.meta.json").unlink()  # now a file segtrain did not write
    mine.write_text('{"id": "mine", "image": "a.png", "group": "g"}\n')
    with pytest.raises(DataError) as err:
        build_catalog(tiny_synth)
    msg = str(err.value)
    assert "\n" not in msg and str(mine) in msg and "dataset.manifest" in msg
    with pytest.raises(DataError):
        build_catalog(tiny_synth, force=True)
    assert mine.read_text() == '{"id": "mine", "image": "a.png", "group": "g"}\n'
    tiny_synth.manifest = str(mine)  # named explicitly: trusted as it is
    assert [r.id for r in build_catalog(tiny_synth).records] == ["mine"]


def test_rebuilding_for_other_settings_says_which_changed(tiny_synth, caplog):
    build_catalog(tiny_synth)
    tiny_synth.split.val_fraction = 0.67
    with caplog.at_level(logging.WARNING, logger="segtrain.data.catalog"):
        assert build_catalog(tiny_synth).rebuilt
    assert "split.val_fraction 0.34 -> 0.67" in caplog.text
