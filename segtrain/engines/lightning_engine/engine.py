"""LightningEngine: fit / load / confusion_matrix / predict_batches for DeepLabV3."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

from segtrain.data.class_weights import split_class_weights
from segtrain.data.source import SampleSource
from segtrain.data.transforms import build_transform
from segtrain.engines.base import LoadedModel, RunResult
from segtrain.engines.lightning_engine.callbacks import (
    AtomicCheckpointIO,
    MetricLineCallback,
    RunLifecycle,
)
from segtrain.engines.lightning_engine.data import (
    SegmentationDataModule,
    ShardedEvalSampler,
    TorchSegmentationDataset,
)
from segtrain.engines.lightning_engine.module import SegmentationModule, confusion_matrix_torch
from segtrain.engines.lightning_engine.strategies import (
    build_strategy,
    torch_precision,
    trainer_hardware_kwargs,
)
from segtrain.errors import CheckpointError
from segtrain.runtime.artifacts import (
    WEIGHT_FILES,
    ClassInfo,
    ModelArtifact,
    model_num_classes,
    write_metadata,
)
from segtrain.runtime.checkpoints import atomic_write
from segtrain.runtime.env import RunContext
from segtrain.runtime.lifecycle import load_error_reason
from segtrain.runtime.metric_log import VAL_MIOU, progress_bar
from segtrain.runtime.scaling import scaled_lr

log = logging.getLogger(__name__)

# Lightning's own console handlers would print every line twice under Hydra's logging;
# its advertising tip and known-harmless warnings are noise in a training log.
for _name in ("lightning", "lightning.pytorch", "lightning.fabric"):
    logging.getLogger(_name).handlers.clear()


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


logging.getLogger("lightning.pytorch").addFilter(_DropNoise())
logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropNoise())
warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
# validation scores come from all-reduced confusion matrices: identical on every rank
warnings.filterwarnings("ignore", message=r"It is recommended to use `self.log\('val_")


def _loggers(cfg: DictConfig, ctx: RunContext) -> list[Logger]:
    loggers: list[Logger] = []
    if cfg.logger.csv:
        loggers.append(CSVLogger(str(ctx.log_dir), name="csv", version=""))
    if cfg.logger.tensorboard:
        loggers.append(TensorBoardLogger(str(ctx.log_dir), name="tensorboard", version=""))
    return loggers


class LightningEngine:
    framework = "torch"

    # ------------------------------------------------------------------------ training
    def fit(self, cfg: DictConfig, ctx: RunContext) -> RunResult:
        """Train DeepLabV3 (resuming from ``ctx.checkpoint_dir``'s latest when allowed),
        then export the final model from rank 0."""
        L.seed_everything(int(cfg.seed), workers=True, verbose=False)
        if cfg.hardware.num_threads:
            torch.set_num_threads(int(cfg.hardware.num_threads))
        datamodule = SegmentationDataModule(cfg)
        classes = ClassInfo.from_class_map(datamodule.class_map)
        run = RunLifecycle(cfg, ctx, model_num_classes(cfg, classes))
        if (finished := run.finished()) is not None:  # nothing trained, nothing written
            return finished
        module = _build_module(cfg, datamodule, classes)
        ckpt_dir = Path(ctx.checkpoint_dir)
        resume_from = run.resume_point()
        if ctx.is_global_zero:
            write_metadata(ckpt_dir, cfg, classes)
        trainer = _build_trainer(cfg, ctx, [*run.callbacks, _checkpoint_callback(ckpt_dir)])
        with run.fitting():  # SIGTERM / SIGINT: RunInterrupted once `last` is safe
            trainer.fit(
                module, datamodule=datamodule, ckpt_path=str(resume_from) if resume_from else None
            )
        return run.complete(
            self._finish(trainer, module, run.metric_cb, cfg, ctx, classes, resume_from)
        )

    def _finish(
        self,
        trainer: L.Trainer,
        module: SegmentationModule,
        metric_cb: MetricLineCallback,
        cfg: DictConfig,
        ctx: RunContext,
        classes: ClassInfo,
        resume_from: Path | None,
    ) -> RunResult:
        """Export from rank 0 and hand back the last validation's scores."""
        ctx.rank, ctx.world_size = trainer.global_rank, trainer.world_size
        model_dir = Path(ctx.model_dir)
        state = full_state_dict(module)  # collective under FSDP2: every rank calls it
        if trainer.is_global_zero:
            self._export(state, cfg, classes, model_dir)
        metrics = dict(module.last_val_scores)
        if not metrics and metric_cb.history:
            metrics = dict(metric_cb.history[-1])
        return RunResult(
            metrics={k: float(v) for k, v in metrics.items()},
            model_dir=model_dir,
            epochs_completed=int(trainer.current_epoch),
            resumed_from=resume_from,
            confusion=module.last_val_confusion,
            class_names=classes.names,
            extra={"history": metric_cb.history},
        )

    @staticmethod
    def _export(
        state: dict[str, torch.Tensor], cfg: DictConfig, classes: ClassInfo, model_dir: Path
    ) -> None:
        atomic_write(model_dir / WEIGHT_FILES["torch"], lambda tmp: torch.save(state, tmp))
        write_metadata(model_dir, cfg, classes)
        log.info("Final model written to %s", model_dir)

    # ----------------------------------------------------------------------- inference
    def load(self, artifact: ModelArtifact, cfg: DictConfig) -> LoadedModel:
        from segtrain.models.deeplabv3 import build_deeplabv3

        path = artifact.weights
        model_cfg = OmegaConf.to_container(artifact.config.model, resolve=True)
        model_cfg["pretrained_weights"] = None
        model_cfg["pretrained_backbone"] = None
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            reason = load_error_reason(Path(path), err, expected=self.framework)
            raise CheckpointError(f"cannot read {path}: {reason}") from None
        if isinstance(obj, dict) and "state_dict" in obj:  # Lightning training checkpoint
            state = {
                k.removeprefix("model."): v
                for k, v in obj["state_dict"].items()
                if k.startswith("model.")
            }
        else:
            state = obj
        model = build_deeplabv3(model_cfg, artifact.classes.num_classes)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise CheckpointError(
                f"{path} does not match the model in its config.yaml: missing "
                f"{missing[:3]}, unexpected {unexpected[:3]}"
            )
        model.eval()
        return LoadedModel.of(artifact, model, num_outputs=int(model.classifier[-1].out_channels))

    def confusion_matrix(
        self, model: LoadedModel, source: SampleSource, cfg: DictConfig
    ) -> np.ndarray:
        num_classes = len(source.class_map.names)
        ignore = int(source.class_map.ignore_index)
        transform = build_transform(model.config.augment, cfg.dataset.image_size, train=False)
        dataset = TorchSegmentationDataset(source, transform)
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=int(cfg.batch_size),
            sampler=ShardedEvalSampler(len(dataset), 0, 1),
            num_workers=int(cfg.dataset.num_workers),
        )
        net = model.handle
        confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)
        with torch.inference_mode(), _autocast(cfg):
            for images, masks in loader:
                pred = net(images)["out"].argmax(1)
                confusion += confusion_matrix_torch(pred, masks, num_classes, ignore)
        return confusion.numpy()

    def predict_batches(
        self, model: LoadedModel, images: list[np.ndarray], cfg: DictConfig
    ) -> Iterator[np.ndarray]:
        config = model.config
        size = [int(v) for v in config.dataset.image_size]
        transform = build_transform(config.augment, size, train=False)
        net = model.handle
        with torch.inference_mode(), _autocast(cfg):
            for image in images:
                import cv2

                resized = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
                x, _ = transform(resized, None)
                tensor = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
                logits = net(tensor)["out"].float()
                logits = F.interpolate(
                    logits, size=image.shape[:2], mode="bilinear", align_corners=False
                )
                yield logits.argmax(1)[0].numpy().astype(np.uint8)


def _build_module(
    cfg: DictConfig, datamodule: SegmentationDataModule, classes: ClassInfo
) -> SegmentationModule:
    """The LightningModule for ``cfg.model`` with the train split's class weights."""
    weights = split_class_weights(
        datamodule.train_source,
        str(cfg.model.class_weighting),
        float(cfg.model.enet_weight_c),
        classes.names,
        classes.ignore_index,
    )
    return SegmentationModule(
        model_cfg=OmegaConf.to_container(cfg.model, resolve=True),
        num_classes=model_num_classes(cfg, classes),
        ignore_index=classes.ignore_index,
        class_names=classes.names,
        lr=scaled_lr(cfg),
        max_epochs=int(cfg.trainer.max_epochs),
        # FSDP2 shards parameters along dim 0 and expects contiguous tensors
        channels_last=bool(cfg.hardware.channels_last)
        and str(cfg.trainer.parallelism) != "model_parallel",
        class_weights=weights,
        extra_checkpoint={"classes": classes.to_json()},
    )


def _checkpoint_callback(ckpt_dir: Path) -> ModelCheckpoint:
    """The best epoch by val_mIoU, written into ``ckpt_dir`` (``last.ckpt`` after every
    epoch is :class:`~.callbacks.LastCheckpoint`'s)."""
    return ModelCheckpoint(
        dirpath=str(ckpt_dir),
        filename=f"best-epoch{{epoch:03d}}-mIoU{{{VAL_MIOU}:.4f}}",
        auto_insert_metric_name=False,
        monitor=VAL_MIOU,
        mode="max",
        save_top_k=1,
        save_last=False,
        every_n_epochs=1,
    )


def _build_trainer(cfg: DictConfig, ctx: RunContext, callbacks: list[L.Callback]) -> L.Trainer:
    """The Lightning Trainer for ``cfg.trainer`` and ``cfg.hardware``."""
    return L.Trainer(
        **trainer_hardware_kwargs(cfg),
        strategy=build_strategy(cfg),
        max_epochs=int(cfg.trainer.max_epochs),
        limit_train_batches=cfg.trainer.limit_train_batches,
        limit_val_batches=cfg.trainer.limit_val_batches,
        check_val_every_n_epoch=int(cfg.trainer.check_val_every_n_epoch),
        log_every_n_steps=int(cfg.trainer.log_every_n_steps),
        accumulate_grad_batches=int(cfg.trainer.accumulate_grad_batches),
        gradient_clip_val=cfg.trainer.gradient_clip_val,
        sync_batchnorm=bool(cfg.trainer.sync_batchnorm),
        deterministic=bool(cfg.trainer.deterministic),
        num_sanity_val_steps=0,
        callbacks=callbacks,
        logger=_loggers(cfg, ctx) or False,
        enable_progress_bar=progress_bar(str(cfg.logger.progress_bar), ctx.interactive),
        enable_model_summary=ctx.interactive,
        default_root_dir=str(ctx.output_dir),
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=False,
    )


def full_state_dict(module: SegmentationModule) -> dict[str, torch.Tensor]:
    """The plain (unsharded, CPU) state_dict of the network, whatever the strategy."""
    if getattr(module, "_sharded", False):
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_model_state_dict,
        )

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        return get_model_state_dict(module.model, options=options)
    return {k: v.detach().cpu().contiguous() for k, v in module.model.state_dict().items()}


def _autocast(cfg: DictConfig) -> Any:
    precision = torch_precision(cfg)
    device = "cuda" if str(cfg.hardware.accelerator) == "gpu" else "cpu"
    if precision.startswith("bf16"):
        return torch.autocast(device, dtype=torch.bfloat16)
    if precision.startswith("16") and device == "cuda":
        return torch.autocast(device, dtype=torch.float16)
    return torch.autocast(device, enabled=False)
