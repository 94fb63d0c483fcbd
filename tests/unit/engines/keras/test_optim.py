"""Optimiser and learning-rate schedule from the config."""

from __future__ import annotations

import math

import keras
import pytest
from omegaconf import OmegaConf

from segtrain.config import ModelConfig, TrainerConfig
from segtrain.engines.keras_engine.optim import WarmupDecay, build_optimizer, build_schedule
from segtrain.errors import ConfigError


def _cfg(**model):
    return OmegaConf.create(
        {
            "model": OmegaConf.structured(ModelConfig(**model)),
            "trainer": OmegaConf.structured(TrainerConfig(max_epochs=4)),
        }
    )


def lr_at(schedule, step: int) -> float:
    return float(schedule(step))


def test_poly_starts_at_lr_and_ends_at_zero():
    s = build_schedule(_cfg(lr=0.01, scheduler="poly", poly_power=0.9), steps_per_epoch=10)
    assert s.total_steps == 40
    assert lr_at(s, 0) == pytest.approx(0.01)
    assert lr_at(s, 20) == pytest.approx(0.01 * 0.5**0.9, rel=1e-5)
    assert lr_at(s, 40) == pytest.approx(0.0, abs=1e-9)


def test_warmup_poly_rises_linearly_then_decays():
    s = build_schedule(_cfg(lr=0.01, scheduler="warmup_poly", warmup_epochs=1.0), 10)
    assert s.warmup_steps == 10
    assert lr_at(s, 0) == pytest.approx(0.001)
    assert lr_at(s, 9) == pytest.approx(0.01)
    assert lr_at(s, 10) == pytest.approx(0.01)
    assert lr_at(s, 25) == pytest.approx(0.01 * 0.5**0.9, rel=1e-5)


def test_cosine_and_constant():
    cos = build_schedule(_cfg(lr=0.02, scheduler="cosine"), 10)
    assert lr_at(cos, 20) == pytest.approx(0.01, rel=1e-5)
    assert lr_at(cos, 10) == pytest.approx(0.01 * (1 + math.cos(math.pi / 4)), rel=1e-5)
    const = build_schedule(_cfg(lr=0.02, scheduler="none"), 10)
    assert lr_at(const, 0) == lr_at(const, 39) == pytest.approx(0.02)


def test_schedule_survives_serialisation():
    s = WarmupDecay(0.1, 100, "poly", 5, 0.9)
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(s))
    assert lr_at(again, 50) == pytest.approx(lr_at(s, 50))


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("adam", keras.optimizers.Adam),
        ("adamw", keras.optimizers.AdamW),
        ("sgd", keras.optimizers.SGD),
    ],
)
def test_optimizer_by_name(name, cls):
    opt = build_optimizer(_cfg(optimizer=name, lr=0.01), 10)
    assert type(opt) is cls
    assert float(opt.learning_rate) == pytest.approx(0.01)


def test_unknown_names_are_config_errors():
    with pytest.raises(ConfigError, match=r"model\.optimizer='rmsprop'"):
        build_optimizer(_cfg(optimizer="rmsprop"), 10)
    with pytest.raises(ConfigError, match=r"model\.scheduler='step'"):
        build_schedule(_cfg(scheduler="step"), 10)
