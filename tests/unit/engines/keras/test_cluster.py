"""TF_CONFIG: respected when given, derived from SageMaker or torchrun-style variables."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from segtrain.config import HardwareConfig
from segtrain.engines.keras_engine.cluster import Cluster, resolve_cluster, write_dir
from segtrain.errors import ConfigError
from segtrain.runtime.env import RunContext


def _cfg(nodes: int):
    return OmegaConf.create({"hardware": OmegaConf.structured(HardwareConfig(nodes=nodes))})


def test_torchrun_style_variables_give_one_worker_port_per_rank():
    env = {"RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "4000"}
    ctx = RunContext.detect({}, env=env)
    cluster = resolve_cluster(_cfg(2), ctx, env=env)
    assert (cluster.index, cluster.num_workers, cluster.is_chief) == (1, 2, False)
    spec = json.loads(env["TF_CONFIG"])  # exported for MultiWorkerMirroredStrategy
    assert spec["cluster"]["worker"] == ["127.0.0.1:4000", "127.0.0.1:4001"]
    assert spec["task"] == {"type": "worker", "index": 1}


def test_an_existing_tf_config_wins_and_sets_the_rank():
    spec = {
        "cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]},
        "task": {"type": "worker", "index": 1},
    }
    env = {"TF_CONFIG": json.dumps(spec), "WORLD_SIZE": "7", "MASTER_PORT": "9"}
    ctx = RunContext.detect({}, env={"TF_CONFIG": env["TF_CONFIG"]})
    assert (ctx.rank, ctx.world_size, ctx.is_global_zero) == (2, 3, False)
    cluster = resolve_cluster(_cfg(3), ctx, env=env)
    assert (cluster.index, cluster.num_workers, cluster.is_chief) == (2, 3, False)
    assert json.loads(env["TF_CONFIG"]) == spec  # untouched


def test_sagemaker_hosts_make_one_worker_per_host():
    env = {"SM_HOSTS": '["algo-2","algo-1"]', "SM_CURRENT_HOST": "algo-2"}
    ctx = RunContext.detect({}, env=env)
    cluster = resolve_cluster(_cfg(2), ctx, env=env)
    assert (cluster.index, cluster.is_chief) == (1, False)
    assert json.loads(env["TF_CONFIG"])["cluster"]["worker"] == ["algo-1:2222", "algo-2:2222"]


def test_nodes_must_match_the_cluster():
    env = {"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1"}
    with pytest.raises(ConfigError, match=r"hardware\.nodes=3"):
        resolve_cluster(_cfg(3), RunContext.detect({}, env=env), env=env)


def test_one_process_is_a_one_worker_cluster():
    assert resolve_cluster(_cfg(1), RunContext.detect({}, env={}), env={}) == Cluster()


def test_only_the_chief_writes_into_the_final_directory(tmp_path):
    with write_dir(tmp_path / "backup", Cluster(2, 0, True)) as d:
        assert d == tmp_path / "backup"
    with write_dir(tmp_path / "backup", Cluster(2, 1, False)) as d:
        (d / "x").write_text("x")
        other = d
    assert not other.exists() and not (tmp_path / "backup" / "x").exists()
