"""Run under torchrun with 2 processes: one DDP optimiser step through the real engine.

Records which training samples each rank loaded, the validation scores the engine
reported, and (rank 0) the exported weights, for test_ddp.py to compare against a
single-process step. Dropout is disabled (its random masks differ between one process
and two); BatchNorm is frozen by config (per-rank batch statistics would differ too).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import segtrain.engines.lightning_engine as lightning_engine  # torch before anything else
from segtrain.engines.lightning_engine import data as data_module
from segtrain.engines.lightning_engine import module as module_module
from segtrain.runtime.env import RunContext

work = Path(sys.argv[1])
overrides = json.loads(sys.argv[2])
rank = int(os.environ["RANK"])


def no_dropout(build):
    def wrapper(*args, **kwargs):
        import torch

        model = build(*args, **kwargs)
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0
        if rank == 0:
            torch.save(model.state_dict(), work / "initial.pt")
        return model

    return wrapper


module_module.build_deeplabv3 = no_dropout(module_module.build_deeplabv3)
seen: list[str] = []
original_getitem = data_module.TorchSegmentationDataset.__getitem__


def recording_getitem(self, index):
    if self.source is getattr(recording_getitem, "train_source", None):
        seen.append(self.source[index].id)
    return original_getitem(self, index)


data_module.TorchSegmentationDataset.__getitem__ = recording_getitem
original_train_loader = data_module.SegmentationDataModule.train_dataloader


def train_loader(self):
    recording_getitem.train_source = self.train_source
    return original_train_loader(self)


data_module.SegmentationDataModule.train_dataloader = train_loader

from hydra import compose, initialize_config_dir  # noqa: E402

from segtrain.config import register_configs  # noqa: E402
from segtrain.tasks_common import resolve_config  # noqa: E402

register_configs()
config_dir = Path(__file__).resolve().parents[3] / "configs"
with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
    cfg = compose("train", overrides=[*overrides, f"paths.output_dir={work}/run"])
cfg = resolve_config(cfg)
ctx = RunContext.detect(cfg.paths)
result = lightning_engine.ENGINE.fit(cfg, ctx)
(work / f"rank{rank}.json").write_text(json.dumps({"seen": seen, "metrics": result.metrics}))
