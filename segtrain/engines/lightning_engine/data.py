"""Torch datasets and the Lightning DataModule over segtrain's framework-free sources."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset, Sampler

from segtrain.data.source import SampleSource, open_split
from segtrain.data.transforms import build_transform


class TorchSegmentationDataset(Dataset):
    """(image CHW float32, mask HW int64) pairs from a SampleSource + transform."""

    def __init__(self, source: SampleSource, transform: Callable) -> None:
        self.source = source
        self.transform = transform

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        sample = self.source[index]
        image, mask = self.transform(sample.image, sample.mask)
        image_t = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        if mask is None:
            mask = np.full(image.shape[:2], self.source.class_map.ignore_index, np.int64)
        return image_t, torch.from_numpy(np.ascontiguousarray(mask, dtype=np.int64))


class ShardedEvalSampler(Sampler[int]):
    """Rank ``r`` of ``w`` gets indices ``r, r+w, ...``: disjoint, covering, no padding.

    Lightning's default distributed sampler pads the last batch with repeated samples,
    which would count some pixels twice in the summed confusion matrix.
    """

    def __init__(self, length: int, rank: int, world_size: int) -> None:
        self.indices = list(range(rank, length, world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class SegmentationDataModule(L.LightningDataModule):
    def __init__(self, cfg: DictConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.train_source = open_split(cfg.dataset, "train")
        self.val_source = open_split(cfg.dataset, "val")
        self.class_map = self.train_source.class_map

    def _loader(self, dataset: Dataset, train: bool) -> DataLoader:
        workers = int(self.cfg.dataset.num_workers)
        trainer = self.trainer
        world = trainer.world_size if trainer is not None else 1
        rank = trainer.global_rank if trainer is not None else 0
        generator = torch.Generator().manual_seed(int(self.cfg.seed))
        if train:
            sampler: Sampler[int] = (
                torch.utils.data.DistributedSampler(
                    dataset,
                    num_replicas=world,
                    rank=rank,
                    shuffle=True,
                    # drop_last: no padding, so ranks never train on the same sample in one
                    # epoch (the few samples left out change with the per-epoch shuffle)
                    seed=int(self.cfg.seed),
                    drop_last=True,
                )
                if world > 1
                else torch.utils.data.RandomSampler(dataset, generator=generator)
            )
        else:
            sampler = ShardedEvalSampler(len(dataset), rank, world)
        return DataLoader(
            dataset,
            batch_size=int(self.cfg.trainer.batch_size),
            sampler=sampler,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=torch.cuda.is_available(),
            drop_last=train and len(dataset) > int(self.cfg.trainer.batch_size),
        )

    def train_dataloader(self) -> DataLoader:
        transform = build_transform(self.cfg.augment, self.cfg.dataset.image_size, train=True)
        return self._loader(TorchSegmentationDataset(self.train_source, transform), train=True)

    def val_dataloader(self) -> DataLoader:
        transform = build_transform(self.cfg.augment, self.cfg.dataset.image_size, train=False)
        return self._loader(TorchSegmentationDataset(self.val_source, transform), train=False)
