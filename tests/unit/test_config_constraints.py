"""No key or value is silently ignored: every schema field with a wrong value, a wrong sibling.

The walk covers every field of every schema reachable from a command's primary config
(issue 14 section 1): a field with a rule (range, choices, length) gets a value just
outside it, a field without one a value of the wrong type; and each node gets an unknown
``+key=``. Each must be refused at compose time (Hydra's type check or
``segtrain.config.check_config``) with a message naming the key.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from segtrain import config as schema
from segtrain.config import RULE, Rule, check_config, config_problems
from segtrain.errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"

#: the command whose primary config reaches each top-level schema field, and what it needs
COMMANDS = {
    "train": (schema.TrainConfig, []),
    "evaluate": (schema.EvaluateConfig, ["checkpoint=x"]),
    "predict": (schema.PredictConfig, ["checkpoint=x"]),
    "data": (schema.DataCommandConfig, []),
    "bench": (schema.BenchConfig, []),
}
#: group nodes are walked once, through train (they are the same schema everywhere)
GROUPS_SEEN_IN_TRAIN = {"dataset", "model", "trainer", "hardware", "augment", "logger", "paths"}


def _leaf_fields(cls: type, prefix: str) -> Iterator[tuple[str, dataclasses.Field]]:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        nested = _dataclass_of(kind)
        if nested is not None:
            yield from _leaf_fields(nested, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", f


def _dataclass_of(kind: object) -> type | None:
    return kind if isinstance(kind, type) and dataclasses.is_dataclass(kind) else None


def _nodes(cls: type, prefix: str) -> Iterator[tuple[str, type]]:
    yield prefix.rstrip("."), cls
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        nested = _dataclass_of(hints[f.name])
        if nested is not None:
            yield from _nodes(nested, f"{prefix}{f.name}.")


def _walk_targets() -> list[tuple[str, str, dataclasses.Field]]:
    rows = []
    for command, (cls, _) in COMMANDS.items():
        for path, f in _leaf_fields(cls, ""):
            group = path.split(".")[0]
            if command != "train" and group in GROUPS_SEEN_IN_TRAIN:
                continue
            if path in ("task", "experiment", "checkpoint"):
                continue  # set by the command itself / a group choice / needed to compose
            rows.append((command, path, f))
    return rows


FIELDS = _walk_targets()
NODES = [
    (command, path, cls)
    for command, (root, _) in COMMANDS.items()
    for path, cls in _nodes(root, "")
    if command == "train" or path.split(".")[0] not in GROUPS_SEEN_IN_TRAIN
]


def _wrong_value(f: dataclasses.Field, kind: object) -> str | None:
    """An override value just outside the field's rule, or of the wrong type."""
    rule: Rule | None = f.metadata.get(RULE)
    is_list = typing.get_origin(kind) is list
    if rule is not None:
        if rule.test is not None:
            return "-1"
        if rule.choices:
            return "[nosuch]" if is_list else "nosuch"
        if rule.length is not None:
            return "[" + ",".join(["1"] * (rule.length + 1)) + "]"
        for bound, delta in ((rule.ge, -1), (rule.gt, 0), (rule.le, 1), (rule.lt, 0)):
            if bound is not None:
                value = bound + delta
                return f"[{value}]" if is_list else str(value)
    base = {int: "abc", float: "abc", bool: "maybe"}
    for t in typing.get_args(kind) or (kind,):
        if t in base:
            return base[t]
    if is_list:
        return "notalist"
    return None  # a free string: any value is one


@pytest.fixture(scope="module")
def compose_config() -> Iterator:
    """conftest's fixture, initialised once for the module's few hundred compositions."""
    schema.register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        yield lambda name, overrides=(): compose(config_name=name, overrides=list(overrides))
    GlobalHydra.instance().clear()


def _compose(compose_config, command: str, overrides: list[str]):
    return compose_config(command, [*COMMANDS[command][1], *overrides])


@pytest.mark.parametrize(("command", "path", "f"), FIELDS, ids=[f"{c}:{p}" for c, p, _ in FIELDS])
def test_every_field_refuses_a_wrong_value(compose_config, command, path, f):
    owner = _owner_class(command, path)
    kind = typing.get_type_hints(owner)[f.name]
    value = _wrong_value(f, kind)
    if value is None:
        assert typing.get_args(kind) in ((), (str, type(None))) and str in (
            kind,
            *typing.get_args(kind),
        ), f"{path}: no wrong value derived for {kind}"
        return
    with pytest.raises(Exception, match=path.replace(".", r"\.")) as err:
        check_config(_compose(compose_config, command, [f"{path}={value}"]))
    if isinstance(err.value, ConfigError):  # Hydra's own type errors: made one line by the CLI
        assert "\n" not in str(err.value)


def _owner_class(command: str, path: str) -> type:
    cls = COMMANDS[command][0]
    for part in path.split(".")[:-1]:
        cls = _dataclass_of(typing.get_type_hints(cls)[part])
    return cls


@pytest.mark.parametrize(
    ("command", "path", "cls"), NODES, ids=[f"{c}:{p or '.'}" for c, p, _ in NODES]
)
def test_every_node_refuses_an_unknown_key(compose_config, command, path, cls):
    key = f"{path}.nosuch_key" if path else "nosuch_key"
    cfg = _compose(compose_config, command, [f"+{key}=1"])
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    message = str(err.value)
    assert message.startswith(f"{key} is not a key of {path or 'the config'}; valid keys: ")
    assert all(f.name in message for f in dataclasses.fields(cls))


@pytest.mark.parametrize("group", sorted(GROUPS_SEEN_IN_TRAIN))
def test_every_preset_passes_its_own_rules(compose_config, group):
    for option in sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml")):
        assert config_problems(compose_config("train", [f"{group}={option}"])) == [], option


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_default_passes(compose_config, command):
    assert config_problems(_compose(compose_config, command, [])) == []


def test_experiments_pass(compose_config):
    for p in sorted((CONFIG_DIR / "experiment").glob("*.yaml")):
        assert config_problems(compose_config("train", [f"experiment={p.stem}"])) == [], p.stem


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["trainer.max_epochs=-1"], "trainer.max_epochs=-1: expected a value >= 1"),
        (["trainer.batch_size=0"], "trainer.batch_size=0: expected a value >= 1"),
        (["hardware.devices=0"], "hardware.devices=0: expected a value >= 1"),
        (["model.optimizer=rmsprop"], "model.optimizer='rmsprop': expected one of sgd, adamw"),
        (["model.backbone=resnet18"], "expected one of mobilenet_v3_large, resnet50, resnet101"),
        (["model=enet", "model.framework=torch"], "expected model.framework=keras"),
        (["augment.scale_min=2", "augment.scale_max=1"], "expected scale_min <= scale_max"),
        (["dataset.split.val_fraction=0.6", "dataset.split.test_fraction=0.4"], "sum below 1"),
        (["trainer.limit_train_batches=1.5"], "a batch count >= 0 or a fraction in [0, 1]"),
        (["dataset.image_size=[192]"], "dataset.image_size=[192]: expected 2 values"),
    ],
)
def test_rule_messages_name_key_value_and_expectation(compose_config, overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_config(compose_config("train", overrides))


def test_accepted_spellings_pass(compose_config):
    cfg = compose_config(
        "train",
        [
            "logger.progress_bar=false",
            "hardware.precision=32",
            "trainer.limit_train_batches=2",
            "trainer.limit_val_batches=0.5",
            "dataset.num_samples=null",
        ],
    )
    assert config_problems(cfg) == []


def test_many_problems_are_counted_in_one_line(compose_config):
    cfg = compose_config("train", ["trainer.max_epochs=0", "trainer.batch_size=0"])
    with pytest.raises(ConfigError, match=r"\(and 1 more problem\(s\)\)$"):
        check_config(cfg)


def test_schema_defaults_follow_their_rules():
    for cls in schema.GROUP_SCHEMAS.values():
        assert config_problems(OmegaConf.structured(cls)) == [], cls.__name__


def test_choice_tables_match_what_exists():
    """The tables beside the schema name exactly what the code can run."""
    from segtrain.data.class_weights import WEIGHTINGS
    from segtrain.data.formats import FORMATS
    from segtrain.data.formats.a2d2 import CAMERAS
    from segtrain.engines.base import ENGINE_MODULES

    assert set(schema.DATASET_FORMATS) == set(FORMATS)
    assert set(schema.A2D2_CAMERAS) == set(CAMERAS)
    assert set(schema.MODEL_FRAMEWORKS.values()) == set(ENGINE_MODULES)
    assert set(_choices(schema.ModelConfig, "class_weighting")) == set(WEIGHTINGS)
    assert set(_choices(schema.ModelConfig, "framework")) == set(ENGINE_MODULES)
    assert set(schema.BACKBONES) == set(schema.MODEL_FRAMEWORKS)


def test_backbone_and_parallelism_tables_match_the_torch_engine():
    pytest.importorskip("torchvision")
    from segtrain.engines.lightning_engine.strategies import PARALLELISMS
    from segtrain.models.deeplabv3 import BUILDERS

    assert set(schema.BACKBONES["deeplabv3"]) == set(BUILDERS)
    assert set(schema.PARALLELISMS) == set(PARALLELISMS)


def test_bench_suites_match_the_bench_command():
    from segtrain.bench import SUITES

    assert set(schema.BENCH_SUITES) == set(SUITES)


def _choices(cls: type, name: str) -> tuple[str, ...]:
    return next(f for f in dataclasses.fields(cls) if f.name == name).metadata[RULE].choices
