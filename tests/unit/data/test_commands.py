"""`segtrain data synth|prepare|inspect` as the CLI calls them (composed data.yaml)."""

from __future__ import annotations

import json

import pytest

from segtrain.data import commands


@pytest.fixture
def data_cfg(compose_config, tmp_path):
    return compose_config(
        "data",
        [
            f"dataset.root={tmp_path / 'synth'}",
            "dataset.image_size=[48,72]",
            "dataset.synth.num_sequences=3",
            "dataset.synth.frames_per_sequence=3",
            "dataset.synth.height=48",
            "dataset.synth.width=72",
            "dataset.split.val_fraction=0.34",
            f"output={tmp_path / 'inspect'}",
            "samples=2",
        ],
    )


def test_synth_then_prepare_twice_with_cache(data_cfg, capsys, tmp_path):
    commands.synth(data_cfg)
    out = capsys.readouterr().out
    assert "generated" in out and "9 samples" in out
    data_cfg.dataset.cache.enabled = True
    data_cfg.dataset.cache.workers = 1
    commands.prepare(data_cfg)
    out = capsys.readouterr().out
    assert "up to date" in out and "1 written, 0 reused" in out  # 9 samples: one shard
    commands.prepare(data_cfg)
    out = capsys.readouterr().out
    assert "up to date" in out and "0 written, 1 reused" in out


def test_inspect_writes_report_and_plots(data_cfg, tmp_path):
    commands.inspect(data_cfg)
    report = json.loads((tmp_path / "inspect/inspect.json").read_text())
    assert report["samples"] == 9 and report["splits"]["val"] == 3
    assert len(report["classes"]) == len(report["class_frequency"]) == 11
    assert abs(sum(report["class_frequency"]) - 1.0) < 1e-6
    for plot in ("class_frequency.png", "samples.png"):
        assert (tmp_path / "inspect" / plot).stat().st_size > 1000
