"""hardware/model config -> Keras dtype policy and tf.distribute strategy."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from segtrain.config import HardwareConfig, ModelConfig, TrainerConfig
from segtrain.engines.keras_engine.hardware import build_strategy, jit_compile, precision_policy
from segtrain.errors import ConfigError


def _cfg(precision="32", cpu_precision=None, parallelism="single", devices=1):
    return OmegaConf.create(
        {
            "hardware": OmegaConf.structured(HardwareConfig(precision=precision, devices=devices)),
            "model": OmegaConf.structured(ModelConfig(cpu_precision=cpu_precision)),
            "trainer": OmegaConf.structured(TrainerConfig(parallelism=parallelism)),
        }
    )


def test_precision_maps_to_keras_policies():
    assert precision_policy(_cfg("32")) == "float32"
    assert precision_policy(_cfg("bf16-mixed")) == "mixed_bfloat16"


def test_cpu_precision_of_the_model_wins_on_cpu():
    assert precision_policy(_cfg("bf16-mixed", cpu_precision="32")) == "float32"


def test_unsupported_precisions_are_config_errors():
    with pytest.raises(ConfigError, match="needs a GPU"):
        precision_policy(_cfg("16-mixed"))
    with pytest.raises(ConfigError, match="'64'"):
        precision_policy(_cfg("64"))


def test_single_uses_the_default_strategy_and_refuses_several_devices():
    assert build_strategy(_cfg()).num_replicas_in_sync == 1
    with pytest.raises(ConfigError, match="trainer=single"):
        build_strategy(_cfg(devices=2))


def test_several_nodes_without_a_cluster_say_how_to_start_the_workers():
    from segtrain.engines.keras_engine.cluster import resolve_cluster
    from segtrain.runtime.env import RunContext

    cfg = _cfg(parallelism="data_parallel")
    cfg.hardware.nodes = 2
    ctx = RunContext.detect({}, env={})
    with pytest.raises(ConfigError, match="MASTER_PORT"):
        resolve_cluster(cfg, ctx, env={})


def test_model_parallel_refuses_several_nodes():
    cfg = _cfg(parallelism="model_parallel")
    cfg.hardware.nodes = 2
    with pytest.raises(ConfigError, match="one machine"):
        build_strategy(cfg)


def test_xla_is_refused_for_enet_with_the_reason():
    cfg = _cfg()
    assert jit_compile(cfg) is False
    cfg.hardware.compile = True
    with pytest.raises(ConfigError, match="max_pool_with_argmax"):
        jit_compile(cfg)
