"""tasks_common: the config evaluate/predict run with, and the class-count check."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from segtrain import tasks_common
from segtrain.engines.base import LoadedModel
from segtrain.errors import ConfigError
from segtrain.runtime.artifacts import ClassInfo, ModelArtifact

CLASSES = ClassInfo(names=["a", "b", "c"], colors=[(0, 0, 0)] * 3, ignore_index=255)


def _artifact() -> ModelArtifact:
    config = OmegaConf.create(
        {
            "model": {"framework": "torch"},
            "dataset": {
                "name": "camvid",
                "format": "camvid",
                "root": "/data/camvid",
                "image_size": [360, 480],
                "manifest": "/data/camvid/manifest.jsonl",
                "split": {"val_fraction": 0.2},
            },
        }
    )
    return ModelArtifact(framework="torch", weights=Path("m.pt"), config=config, classes=CLASSES)


@pytest.fixture
def evaluate_cfg(compose_config):
    def make(overrides: list[str]):
        return compose_config("evaluate", ["checkpoint=m.pt", "paths.output_dir=out", *overrides])

    return make


def _with_overrides(monkeypatch, overrides: list[str] | None) -> None:
    monkeypatch.setattr(tasks_common, "command_line_overrides", lambda: overrides)


def test_without_dataset_overrides_the_checkpoints_dataset_is_used(monkeypatch, evaluate_cfg):
    _with_overrides(monkeypatch, ["checkpoint=m.pt"])
    resolved = tasks_common.task_config(evaluate_cfg([]), _artifact())
    assert OmegaConf.to_container(resolved.dataset) == OmegaConf.to_container(
        _artifact().config.dataset
    )


def test_a_dataset_key_override_refines_the_checkpoints_dataset(monkeypatch, evaluate_cfg):
    overrides = ["dataset.root=/elsewhere/camvid", "dataset.image_size=[96,128]"]
    _with_overrides(monkeypatch, ["checkpoint=m.pt", *overrides])
    resolved = tasks_common.task_config(evaluate_cfg(overrides), _artifact())
    assert resolved.dataset.name == "camvid" and resolved.dataset.format == "camvid"
    assert resolved.dataset.root == "/elsewhere/camvid"
    assert list(resolved.dataset.image_size) == [96, 128]
    # every key not overridden is the checkpoint's, not evaluate's default dataset's
    assert resolved.dataset.manifest == "/data/camvid/manifest.jsonl"
    assert resolved.dataset.split.val_fraction == 0.2
    assert "synth" not in resolved.dataset


def test_a_deleted_dataset_key_is_removed_from_the_checkpoints_dataset(monkeypatch, evaluate_cfg):
    _with_overrides(monkeypatch, ["~dataset.manifest"])
    resolved = tasks_common.task_config(evaluate_cfg([]), _artifact())
    assert resolved.dataset.name == "camvid" and "manifest" not in resolved.dataset


def test_choosing_a_dataset_uses_the_composed_one(monkeypatch, evaluate_cfg):
    overrides = ["dataset=synthetic", "dataset.root=/tmp/s"]
    _with_overrides(monkeypatch, overrides)
    resolved = tasks_common.task_config(evaluate_cfg(overrides), _artifact())
    assert resolved.dataset.name == "synthetic" and resolved.dataset.root == "/tmp/s"


def test_outside_a_hydra_app_the_composed_dataset_stands(monkeypatch, evaluate_cfg):
    from hydra.core.hydra_config import HydraConfig

    # an earlier in-process CLI run in the same pytest process may have left it set
    monkeypatch.setattr(HydraConfig.instance(), "cfg", None)
    assert tasks_common.command_line_overrides() is None
    resolved = tasks_common.task_config(evaluate_cfg([]), _artifact())
    assert resolved.dataset.name == "synthetic"


def test_a_dataset_with_another_class_count_is_refused():
    model = LoadedModel("torch", OmegaConf.create({}), CLASSES, num_outputs=3, handle=None)
    tasks_common.check_model_classes(model, ["a", "b", "c"], "camvid")
    with pytest.raises(ConfigError, match="predicts 3 classes but dataset camvid has 2"):
        tasks_common.check_model_classes(model, ["a", "b"], "camvid")
