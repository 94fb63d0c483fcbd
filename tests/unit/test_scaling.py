"""trainer.lr_scaling: one framework-free rule for both engines."""

from __future__ import annotations

import math

import pytest
from omegaconf import OmegaConf

from segtrain.config import HardwareConfig, ModelConfig, TrainerConfig
from segtrain.errors import ConfigError
from segtrain.runtime.scaling import global_batch_size, scale_lr, scaled_lr


def _cfg(rule: str, devices: int = 2, nodes: int = 2, batch: int = 8, base: int = 8):
    return OmegaConf.create(
        {
            "trainer": OmegaConf.structured(
                TrainerConfig(batch_size=batch, lr_scaling=rule, lr_scaling_base_batch=base)
            ),
            "hardware": OmegaConf.structured(HardwareConfig(devices=devices, nodes=nodes)),
            "model": OmegaConf.structured(ModelConfig(lr=0.01)),
        }
    )


def test_global_batch_is_per_device_batch_times_replicas():
    assert global_batch_size(_cfg("none")) == 32
    assert global_batch_size(_cfg("none"), replicas=3) == 24


@pytest.mark.parametrize(("rule", "factor"), [("none", 1.0), ("linear", 4.0), ("sqrt", 2.0)])
def test_rules_scale_with_the_ratio_to_the_base_batch(rule, factor):
    assert scaled_lr(_cfg(rule)) == pytest.approx(0.01 * factor)


def test_explicit_replicas_win_over_the_hardware_count():
    assert scaled_lr(_cfg("linear"), replicas=1) == pytest.approx(0.01)
    assert scale_lr(0.1, 8, "sqrt", 2) == pytest.approx(0.1 * math.sqrt(4))


def test_unknown_rule_is_a_config_error():
    with pytest.raises(ConfigError, match="lr_scaling"):
        scaled_lr(_cfg("cubic"))
