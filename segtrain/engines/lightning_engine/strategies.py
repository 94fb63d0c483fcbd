"""trainer.parallelism + hardware -> Lightning strategy, accelerator and precision."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.strategies import DDPStrategy, ModelParallelStrategy, Strategy
from omegaconf import DictConfig

from segtrain.errors import ConfigError
from segtrain.runtime.checkpoints import TMP_PREFIX, replace_directory
from segtrain.runtime.precision import resolve_precision

PARALLELISMS = ("single", "data_parallel", "model_parallel")


def process_group_backend(cfg: DictConfig) -> str:
    backend = str(cfg.trainer.backend)
    gpu = str(cfg.hardware.accelerator) == "gpu"
    if backend == "auto":
        return "nccl" if gpu else "gloo"
    if backend == "nccl" and not gpu:
        raise ConfigError("trainer.backend=nccl needs hardware.accelerator=gpu; use gloo on CPU")
    if backend == "smddp":
        try:
            import smdistributed.dataparallel.torch.torch_smddp  # noqa: F401
        except ImportError:
            raise ConfigError(
                "trainer.backend=smddp needs SageMaker's smdistributed library (available in "
                "SageMaker's PyTorch training containers on ml.p4d/ml.p5 instances)"
            ) from None
    return backend


def build_strategy(cfg: DictConfig) -> Strategy | str:
    parallelism = str(cfg.trainer.parallelism)
    if parallelism not in PARALLELISMS:
        raise ConfigError(f"trainer.parallelism={parallelism!r}; expected one of {PARALLELISMS}")
    world = int(cfg.hardware.devices) * int(cfg.hardware.nodes)
    if parallelism == "single":
        if world > 1:
            raise ConfigError(
                f"trainer=single runs one process, but hardware asks for {world} devices; "
                "use trainer=data_parallel or trainer=model_parallel"
            )
        return "auto"
    if parallelism == "data_parallel":
        if cfg.trainer.sync_batchnorm and str(cfg.hardware.accelerator) != "gpu":
            raise ConfigError(
                "trainer.sync_batchnorm=true needs GPUs (torch SyncBatchNorm is CUDA-only); "
                "set trainer.sync_batchnorm=false on CPU"
            )
        return DDPStrategy(
            process_group_backend=process_group_backend(cfg),
            find_unused_parameters=False,
        )
    sharding = str(cfg.trainer.sharding)
    if sharding != "fsdp2":
        raise ConfigError(
            f"trainer.sharding={sharding!r} is not supported by the torch engine; expected "
            "fsdp2 (parameters, gradients and optimizer state sharded with fully_shard)"
        )
    return AtomicModelParallelStrategy(
        data_parallel_size=world,
        tensor_parallel_size=1,
        save_distributed_checkpoint=True,
        process_group_backend=process_group_backend(cfg),
    )


class AtomicModelParallelStrategy(ModelParallelStrategy):
    """FSDP2 (``fully_shard``) whose sharded checkpoints never appear half-written.

    Every rank writes its shard into a temporary directory; once all are done, rank 0
    moves the directory into place. Loading reads with ``weights_only=True``.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], filepath: Any, storage_options: Any = None
    ) -> None:
        final = Path(self.broadcast(str(filepath)))
        tmp = final.with_name(f"{TMP_PREFIX}{final.name}")
        if self.global_rank == 0 and tmp.exists():
            shutil.rmtree(tmp)
        self.barrier("segtrain_ckpt_tmp_clean")
        super().save_checkpoint(checkpoint, tmp, storage_options)
        self.barrier("segtrain_ckpt_written")
        if self.global_rank == 0:
            replace_directory(tmp, final)
        self.barrier("segtrain_ckpt_moved")

    def load_checkpoint(
        self, checkpoint_path: Any, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return super().load_checkpoint(checkpoint_path, weights_only=True)


def torch_precision(cfg: DictConfig) -> str:
    """``hardware.precision`` with ``auto`` resolved for this machine (runtime.precision)."""
    hw = cfg.hardware
    gpu = str(hw.accelerator) == "gpu" or (
        str(hw.accelerator) == "auto" and torch.cuda.is_available()
    )
    return resolve_precision(
        str(hw.precision), "gpu" if gpu else "cpu", lambda: torch.cuda.is_bf16_supported()
    )


def trainer_hardware_kwargs(cfg: DictConfig) -> dict[str, Any]:
    hw = cfg.hardware
    accelerator = str(hw.accelerator)
    if accelerator == "gpu" and not torch.cuda.is_available():
        raise ConfigError(
            "hardware.accelerator=gpu but no CUDA device is visible; use hardware=cpu"
        )
    precision = torch_precision(cfg)
    if accelerator == "cpu" and precision in ("16-mixed", "16"):
        raise ConfigError(
            f"hardware.precision={precision} is not supported on CPU; use bf16-mixed or 32"
        )
    return {
        "accelerator": accelerator,
        "devices": int(hw.devices),
        "num_nodes": int(hw.nodes),
        "precision": precision,
    }
