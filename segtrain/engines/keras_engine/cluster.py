"""Which worker of a multi-worker TensorFlow job this process is (``TF_CONFIG``).

MultiWorkerMirroredStrategy reads the cluster from the ``TF_CONFIG`` environment
variable. An existing ``TF_CONFIG`` is always respected (a scheduler or the user wrote
it); otherwise :meth:`RunContext.multi_worker_tf_config` derives one (SageMaker's
``SM_HOSTS``, or torchrun-style ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT``)
and it is exported here before the strategy starts. Without either, the run is one
worker. ``hardware.nodes`` must agree with the number of workers, so a preset can never
silently train on fewer machines than it names.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from segtrain.errors import ConfigError
from segtrain.runtime.env import RunContext, tf_config_task


@dataclass(frozen=True)
class Cluster:
    """This process's place in the job: ``index`` of ``num_workers`` workers."""

    num_workers: int = 1
    index: int = 0
    is_chief: bool = True
    tf_config: dict[str, Any] | None = None

    @property
    def multi_worker(self) -> bool:
        return self.num_workers > 1

    @classmethod
    def from_tf_config(cls, spec: dict[str, Any]) -> Cluster:
        """Workers are ordered chief first (TensorFlow's convention), then ``worker``."""
        kind, position, world = tf_config_task(spec)
        if world == 0:
            raise ConfigError(f"TF_CONFIG {spec!r} has no usable cluster/task")
        if kind not in ("chief", "worker"):
            raise ConfigError(
                f"TF_CONFIG task type {kind!r}: the Keras engine trains with chief/worker "
                "tasks only (no parameter servers or evaluators)"
            )
        return cls(
            num_workers=max(world, 1),
            index=position,
            is_chief=position == 0,
            tf_config=spec,
        )


def resolve_cluster(
    cfg: DictConfig, ctx: RunContext, env: MutableMapping[str, str] | None = None
) -> Cluster:
    """The cluster of a data-parallel run; exports ``TF_CONFIG`` when it derived one."""
    env = os.environ if env is None else env
    raw = env.get("TF_CONFIG")
    if raw:
        try:
            spec = json.loads(raw)
        except json.JSONDecodeError:
            raise ConfigError(f"TF_CONFIG={raw!r} is not JSON") from None
    else:
        spec = ctx.multi_worker_tf_config()
    nodes = int(cfg.hardware.nodes)
    if spec is None:
        if nodes > 1:
            raise ConfigError(
                f"hardware.nodes={nodes}: TensorFlow runs one worker process per node; start "
                "one `segtrain train` per node with RANK=<i> WORLD_SIZE=<n> "
                "MASTER_ADDR=<host> MASTER_PORT=<port> (workers listen on MASTER_PORT+i) or "
                "with a TF_CONFIG naming every worker"
            )
        return Cluster()
    cluster = Cluster.from_tf_config(spec)
    if cluster.num_workers != nodes:
        raise ConfigError(
            f"hardware.nodes={nodes} but the cluster ({'TF_CONFIG' if raw else 'environment'})"
            f" has {cluster.num_workers} worker(s); set hardware.nodes={cluster.num_workers}"
        )
    if not raw and cluster.multi_worker:
        env["TF_CONFIG"] = json.dumps(spec)
    return cluster


@contextmanager
def write_dir(final: Path, cluster: Cluster) -> Iterator[Path]:
    """Where this worker writes what only the chief keeps (the MWMS convention).

    Every worker takes part in saving (so nothing collective can deadlock, and saving
    code stays one path), but only the chief writes into ``final``; the others write to
    a temporary directory that is deleted afterwards, so workers never race on shared
    storage.
    """
    if cluster.is_chief:
        final.mkdir(parents=True, exist_ok=True)
        yield final
        return
    tmp = Path(tempfile.mkdtemp(prefix=f"segtrain-worker{cluster.index}-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
