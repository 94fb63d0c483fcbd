"""Config tree: every group composes against its schema; bad values fail at compose time."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from segtrain.config import GROUP_SCHEMAS

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
GROUP_OPTIONS = {
    group: sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml")) for group in GROUP_SCHEMAS
}


def test_train_defaults_compose_with_typed_groups(compose_config):
    cfg = compose_config("train")
    assert cfg.dataset.name == "synthetic"
    assert cfg.model.name == "deeplabv3" and cfg.model.framework == "torch"
    assert cfg.trainer.parallelism == "single"
    assert cfg.optimized_metric == "val_mIoU"
    for group, schema in GROUP_SCHEMAS.items():
        assert OmegaConf.get_type(cfg[group]) is schema, group


@pytest.mark.parametrize(
    ("group", "option"),
    [(g, o) for g, options in GROUP_OPTIONS.items() for o in options],
)
def test_every_preset_composes(compose_config, group, option):
    cfg = compose_config("train", [f"{group}={option}"])
    if group != "paths":
        assert cfg[group].name == option


def test_typed_override_is_converted(compose_config):
    cfg = compose_config("train", ["model.lr=0.5", "trainer.max_epochs=3"])
    assert cfg.model.lr == 0.5 and cfg.trainer.max_epochs == 3


def test_wrong_type_fails_at_compose_time(compose_config):
    with pytest.raises(Exception, match=r"model\.lr"):
        compose_config("train", ["model.lr=abc"])


def test_unknown_key_fails_at_compose_time(compose_config):
    with pytest.raises(Exception, match="nokey"):
        compose_config("train", ["model.nokey=1"])


def test_schema_rejects_wrong_type_on_assignment(compose_config):
    cfg = compose_config("train")
    with pytest.raises(ValidationError):
        cfg.trainer.max_epochs = "many"


@pytest.mark.parametrize("name", ["evaluate", "predict", "data"])
def test_other_commands_compose(compose_config, name):
    cfg = compose_config(name, [] if name == "data" else ["checkpoint=x"])
    assert cfg.task == name
