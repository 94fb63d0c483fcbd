"""The LightningModule: DeepLabV3, cross-entropy with ignore_index, a confusion matrix.

The module only accumulates the validation confusion matrix (an on-device bincount,
summed across ranks); every score comes from :func:`segtrain.metrics.scores_from_confusion`.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from segtrain.errors import ConfigError
from segtrain.metrics import scores_from_confusion
from segtrain.models.deeplabv3 import build_deeplabv3
from segtrain.runtime.metric_log import TRAIN_LOSS, VAL_LOSS, VAL_METRICS, VAL_MIOU, VAL_PREFIX

AUX_WEIGHT = 0.4  # torchvision's reference recipe weighs the aux head's loss 0.4


class SegmentationModule(L.LightningModule):
    def __init__(
        self,
        model_cfg: dict[str, Any],
        num_classes: int,
        ignore_index: int,
        class_names: list[str],
        lr: float,
        max_epochs: int,
        channels_last: bool = False,
        class_weights: list[float] | None = None,
        extra_checkpoint: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.model_cfg = model_cfg
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.class_names = class_names
        self.lr = lr
        self.max_epochs = max_epochs
        self.channels_last = channels_last
        self.extra_checkpoint = extra_checkpoint or {}
        self.model = build_deeplabv3(model_cfg, num_classes)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        weight = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.criterion = nn.CrossEntropyLoss(ignore_index=ignore_index, weight=weight)
        self.register_buffer(
            "val_confusion",
            torch.zeros(num_classes, num_classes, dtype=torch.int64),
            persistent=False,
        )
        self.val_loss_sum = 0.0
        self.val_batches = 0
        self.last_val_scores: dict[str, float] = {}
        self.last_val_confusion: np.ndarray | None = None

    def train(self, mode: bool = True) -> SegmentationModule:
        super().train(mode)
        if mode:
            self._freeze_batchnorm()
        return self

    def on_train_epoch_start(self) -> None:
        # Lightning does not call train() when fitting starts; it keeps module modes
        self._freeze_batchnorm()

    def _freeze_batchnorm(self) -> None:
        if self.model_cfg["freeze_bn"]:
            for m in self.model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()

    def configure_model(self) -> None:
        """Shard with FSDP2 when the strategy provides a device mesh (model_parallel).

        Each backbone stage and the classifier become their own FSDP unit, so only one
        unit's full parameters are materialised at a time; the root wraps the rest.
        """
        mesh = getattr(self, "_device_mesh", None)
        if mesh is None or getattr(self, "_sharded", False):
            return
        from torch.distributed.fsdp import fully_shard

        dp_mesh = mesh["data_parallel"]
        for block in self.model.backbone.children():
            fully_shard(block, mesh=dp_mesh)
        fully_shard(self.model.classifier, mesh=dp_mesh)
        if getattr(self.model, "aux_classifier", None) is not None:
            fully_shard(self.model.aux_classifier, mesh=dp_mesh)
        fully_shard(self.model, mesh=dp_mesh)
        self._sharded = True

    # ----------------------------------------------------------------- forward / steps
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.model(images)["out"]

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        images, masks = batch
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        out = self.model(images)
        loss = self.criterion(out["out"], masks)
        if "aux" in out:
            loss = loss + AUX_WEIGHT * self.criterion(out["aux"], masks)
        self.log(
            TRAIN_LOSS,
            loss,
            on_step=True,
            on_epoch=True,
            prog_bar=True,
            batch_size=images.shape[0],
            sync_dist=True,
        )
        return loss

    def on_validation_epoch_start(self) -> None:
        self.val_confusion.zero_()
        self.val_loss_sum = 0.0
        self.val_batches = 0

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, masks = batch
        logits = self(images)
        self.val_loss_sum += float(self.criterion(logits.float(), masks))
        self.val_batches += 1
        self.val_confusion += confusion_matrix_torch(
            logits.argmax(1), masks, self.num_classes, self.ignore_index
        )

    def on_validation_epoch_end(self) -> None:
        confusion = self.val_confusion.clone()
        loss = torch.tensor(
            [self.val_loss_sum, float(self.val_batches)],
            dtype=torch.float64,
            device=confusion.device,
        )
        if dist.is_available() and dist.is_initialized():
            # sum, never average, per-rank matrices (DESIGN.md §4)
            dist.all_reduce(confusion, op=dist.ReduceOp.SUM)
            dist.all_reduce(loss, op=dist.ReduceOp.SUM)
        self.last_val_confusion = confusion.cpu().numpy()
        scores = scores_from_confusion(self.last_val_confusion)
        val_loss = float(loss[0] / loss[1]) if loss[1] > 0 else math.nan
        self.last_val_scores = {
            VAL_LOSS: val_loss,
            **scores.as_dict(prefix=VAL_PREFIX, class_names=self.class_names),
        }
        # identical on every rank after the all-reduce: no further sync needed
        for key in VAL_METRICS:
            self.log(
                key,
                self.last_val_scores[key],
                prog_bar=key == VAL_MIOU,
                sync_dist=False,
                rank_zero_only=False,
            )

    # ------------------------------------------------------------------- optimisation
    def configure_optimizers(self) -> dict[str, Any]:
        cfg = self.model_cfg
        params = [p for p in self.parameters() if p.requires_grad]
        name = str(cfg["optimizer"]).lower()
        wd = float(cfg["weight_decay"])
        if name == "sgd":
            optimizer: torch.optim.Optimizer = torch.optim.SGD(
                params,
                lr=self.lr,
                momentum=float(cfg["momentum"]),
                weight_decay=wd,
                nesterov=False,
            )
        elif name == "adamw":
            optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=wd)
        elif name == "adam":
            optimizer = torch.optim.Adam(params, lr=self.lr, weight_decay=wd)
        else:
            raise ConfigError(f"model.optimizer={name!r}; expected sgd, adamw or adam")
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        steps_per_epoch = max(total // max(self.max_epochs, 1), 1)
        schedule = lr_schedule(
            str(cfg["scheduler"]),
            total,
            warmup=int(float(cfg["warmup_epochs"]) * steps_per_epoch),
            power=float(cfg["poly_power"]),
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["segtrain"] = dict(self.extra_checkpoint)


def confusion_matrix_torch(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int
) -> torch.Tensor:
    """Same convention as :func:`segtrain.metrics.confusion_matrix`, on-device."""
    target = target.reshape(-1)
    pred = pred.reshape(-1)
    keep = (target >= 0) & (target < num_classes) & (target != ignore_index)
    index = target[keep] * num_classes + pred[keep]
    counts = torch.bincount(index, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


class _Schedule:
    """Picklable LR multiplier (checkpoints and spawn-based strategies pickle it)."""

    def __init__(self, kind: str, total: int, warmup: int, power: float) -> None:
        if kind not in ("poly", "warmup_poly", "cosine", "none"):
            raise ConfigError(
                f"model.scheduler={kind!r}; expected poly, warmup_poly, cosine or none"
            )
        self.kind, self.total, self.power = kind, total, power
        self.warmup = warmup if kind == "warmup_poly" or warmup else 0

    def __call__(self, step: int) -> float:
        if self.kind == "none":
            return 1.0
        if self.warmup and step < self.warmup:
            return (step + 1) / self.warmup
        span = max(self.total - self.warmup, 1)
        progress = min(max(step - self.warmup, 0) / span, 1.0)
        if self.kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return (1.0 - progress) ** self.power


def lr_schedule(kind: str, total: int, warmup: int = 0, power: float = 0.9) -> _Schedule:
    return _Schedule(kind, total, warmup, power)
