"""Where am I running? One :class:`RunContext` answers it for every task.

Locally the paths come from the ``paths`` config and ranks from torchrun-style
variables (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``...). Inside a
SageMaker training container (``SM_*`` variables, ``/opt/ml``) the paths are the
container's: channels under ``/opt/ml/input/data``, checkpoints in ``/opt/ml/checkpoints``
(synced to S3, restored on spot restarts), the model in ``/opt/ml/model``, and a failure
reason in ``/opt/ml/output/failure``. ``SAGEMAKER_BASE_DIR`` relocates ``/opt/ml`` (the
SageMaker training toolkit's convention, used for docker-free local runs).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segtrain.errors import ConfigError

DEFAULT_SM_BASE = "/opt/ml"


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r} is not an integer") from None


def tf_config_task(spec: Any) -> tuple[str, int, int]:
    """(task type, position, number of chief+worker tasks) of a parsed ``TF_CONFIG``.

    Positions follow TensorFlow's chief convention: the ``chief`` task (if any) first,
    then the workers in order; evaluator and parameter-server tasks get the position
    past the last worker (they are never rank 0 and never write outputs).
    """
    try:
        cluster = spec.get("cluster", {})
        task = spec.get("task", {})
        chiefs = len(cluster.get("chief", []))
        world = chiefs + len(cluster.get("worker", []))
        kind, index = str(task.get("type", "worker")), int(task.get("index", 0))
    except (AttributeError, TypeError, ValueError):
        raise ConfigError(f"TF_CONFIG {spec!r} is not valid TF_CONFIG JSON") from None
    position = index if kind == "chief" else chiefs + index if kind == "worker" else world
    return kind, position, world


def _tf_config_rank(env: Mapping[str, str]) -> tuple[int, int]:
    """(rank, world size) of this process according to ``TF_CONFIG`` ((0, 1) without one)."""
    raw = env.get("TF_CONFIG")
    if not raw:
        return 0, 1
    try:
        spec = json.loads(raw)
    except json.JSONDecodeError:
        raise ConfigError(f"TF_CONFIG={raw!r} is not valid TF_CONFIG JSON") from None
    _, rank, world = tf_config_task(spec)
    return (0, 1) if world == 0 else (rank, world)


def is_sagemaker(env: Mapping[str, str] | None = None) -> bool:
    """True inside a SageMaker training job (or a faithful local imitation of one)."""
    env = os.environ if env is None else env
    return "SM_CURRENT_HOST" in env or "SM_TRAINING_ENV" in env


@dataclass
class RunContext:
    platform: str  # "local" | "sagemaker"
    checkpoint_dir: Path
    model_dir: Path
    output_dir: Path
    log_dir: Path
    data_dir: Path
    channels: dict[str, Path] = field(default_factory=dict)
    hosts: list[str] = field(default_factory=lambda: ["localhost"])
    current_host: str = "localhost"
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 29500
    num_gpus: int = 0
    failure_file: Path | None = None
    job_name: str | None = None
    interactive: bool = False

    @property
    def num_nodes(self) -> int:
        return len(self.hosts)

    @property
    def is_sagemaker(self) -> bool:
        return self.platform == "sagemaker"

    @property
    def is_global_zero(self) -> bool:
        return self.rank == 0

    @classmethod
    def detect(
        cls, paths: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> RunContext:
        """Build the context from the environment (and the ``paths`` config locally)."""
        env = dict(os.environ if env is None else env)
        interactive = sys.stdout.isatty()
        if is_sagemaker(env):
            return cls._sagemaker(env, interactive)
        paths = paths or {}
        output = Path(str(paths.get("output_dir", "outputs")))
        tf_rank, tf_world = _tf_config_rank(env)
        return cls(
            platform="local",
            checkpoint_dir=Path(str(paths.get("checkpoint_dir", output / "checkpoints"))),
            model_dir=Path(str(paths.get("model_dir", output / "model"))),
            output_dir=output,
            log_dir=Path(str(paths.get("log_dir", output / "logs"))),
            data_dir=Path(str(paths.get("data_dir", "data"))),
            # Lightning's launcher sets only LOCAL_RANK for its single-node children
            rank=_int(env, "RANK", _int(env, "LOCAL_RANK", tf_rank)),
            local_rank=_int(env, "LOCAL_RANK", 0),
            world_size=_int(env, "WORLD_SIZE", tf_world),
            node_rank=_int(env, "NODE_RANK", _int(env, "GROUP_RANK", 0)),
            master_addr=env.get("MASTER_ADDR", "127.0.0.1"),
            master_port=_int(env, "MASTER_PORT", 29500),
            interactive=interactive,
        )

    @classmethod
    def _sagemaker(cls, env: Mapping[str, str], interactive: bool) -> RunContext:
        base = Path(env.get("SAGEMAKER_BASE_DIR", DEFAULT_SM_BASE))
        try:
            hosts = json.loads(env.get("SM_HOSTS", '["algo-1"]'))
        except json.JSONDecodeError:
            raise ConfigError(f"SM_HOSTS={env.get('SM_HOSTS')!r} is not a JSON list") from None
        hosts = sorted(hosts)
        current = env.get("SM_CURRENT_HOST", hosts[0])
        if current not in hosts:
            raise ConfigError(f"SM_CURRENT_HOST={current!r} is not one of SM_HOSTS={hosts}")
        channels = {
            key[len("SM_CHANNEL_") :].lower(): Path(value)
            for key, value in env.items()
            if key.startswith("SM_CHANNEL_")
        }
        input_data = base / "input" / "data"
        num_gpus = _int(env, "SM_NUM_GPUS", 0)
        node_rank = hosts.index(current)
        procs_per_node = max(num_gpus, 1)
        return cls(
            platform="sagemaker",
            checkpoint_dir=Path(env.get("SEGTRAIN_CHECKPOINT_DIR", base / "checkpoints")),
            model_dir=Path(env.get("SM_MODEL_DIR", base / "model")),
            output_dir=Path(env.get("SM_OUTPUT_DATA_DIR", base / "output" / "data")),
            log_dir=Path(env.get("SM_OUTPUT_DATA_DIR", base / "output" / "data")) / "logs",
            data_dir=channels.get("train", input_data),
            channels=channels,
            hosts=hosts,
            current_host=current,
            rank=_int(env, "RANK", node_rank * procs_per_node),
            local_rank=_int(env, "LOCAL_RANK", 0),
            world_size=_int(env, "WORLD_SIZE", len(hosts) * procs_per_node),
            node_rank=node_rank,
            master_addr=env.get("MASTER_ADDR", hosts[0]),
            master_port=_int(env, "MASTER_PORT", 29500),
            num_gpus=num_gpus,
            failure_file=Path(env.get("SM_OUTPUT_DIR", base / "output")) / "failure",
            job_name=env.get("TRAINING_JOB_NAME"),
            interactive=interactive,
        )

    def tf_config(self, port: int = 2222) -> dict[str, Any]:
        """``TF_CONFIG`` for MultiWorkerMirroredStrategy: one worker per host."""
        return {
            "cluster": {"worker": [f"{h}:{port}" for h in self.hosts]},
            "task": {"type": "worker", "index": self.node_rank},
        }

    def multi_worker_tf_config(self) -> dict[str, Any] | None:
        """The ``TF_CONFIG`` of a multi-worker run, or None for a one-process run.

        TensorFlow runs one worker process per machine (each drives that machine's
        devices). SageMaker: one worker per host of ``SM_HOSTS``. Locally, torchrun-style
        variables (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``) describe
        the processes; TensorFlow needs every worker's address while torchrun shares only
        the master's, so worker ``i`` listens on ``MASTER_PORT + i`` of ``MASTER_ADDR``:
        right for several processes on one machine (127.0.0.1). Workers on several
        machines locally need an explicit ``TF_CONFIG`` (which always wins).
        """
        if self.is_sagemaker:
            return self.tf_config() if len(self.hosts) > 1 else None
        if self.world_size <= 1:
            return None
        if not 0 <= self.rank < self.world_size:
            raise ConfigError(f"RANK={self.rank} is not in [0, WORLD_SIZE={self.world_size})")
        return {
            "cluster": {
                "worker": [
                    f"{self.master_addr}:{self.master_port + i}" for i in range(self.world_size)
                ]
            },
            "task": {"type": "worker", "index": self.rank},
        }

    def write_failure(self, message: str) -> None:
        """Record why the job failed where SageMaker reads ``FailureReason`` from."""
        if self.failure_file is None:
            return
        self.failure_file.parent.mkdir(parents=True, exist_ok=True)
        self.failure_file.write_text(message[:1024])
