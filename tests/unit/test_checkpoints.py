"""checkpoints: atomic writes never leave half a file; latest lookup ignores partials."""

import os

import pytest

from segtrain.runtime.checkpoints import (
    atomic_write,
    atomic_write_text,
    latest_checkpoint,
)


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "last.ckpt"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_failed_write_keeps_previous_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "last.ckpt"
    atomic_write_text(target, "complete")

    def crash(tmp):
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        atomic_write(target, crash)
    assert target.read_text() == "complete"
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_latest_prefers_last_and_ignores_temp_files(tmp_path):
    (tmp_path / "best-epoch001.ckpt").write_text("a")
    (tmp_path / ".tmp-last.ckpt.xyz").write_text("half written")
    assert latest_checkpoint(tmp_path) == tmp_path / "best-epoch001.ckpt"
    assert not (tmp_path / ".tmp-last.ckpt.xyz").exists()
    (tmp_path / "last.ckpt").write_text("b")
    assert latest_checkpoint(tmp_path) == tmp_path / "last.ckpt"


def test_missing_or_empty_dir_is_a_fresh_start(tmp_path):
    assert latest_checkpoint(tmp_path / "nope") is None
    assert latest_checkpoint(tmp_path) is None


def test_newest_file_wins_without_last(tmp_path):
    old, new = tmp_path / "epoch=1.ckpt", tmp_path / "epoch=2.ckpt"
    old.write_text("1")
    new.write_text("2")
    os.utime(old, (1, 1))
    assert latest_checkpoint(tmp_path) == new
