"""DeepLabV3 training-step benchmark: fp32 vs channels_last + bf16 autocast, one run.

Run as ``python -m segtrain.engines.lightning_engine.bench '<json spec>'`` (the bench
task starts it in its own process so torch and TensorFlow never share one); prints one
JSON document with seconds per step for each variant and their ratio.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn

from segtrain.models.deeplabv3 import build_deeplabv3


def time_steps(
    backbone: str,
    batch: int,
    size: tuple[int, int],
    channels_last: bool,
    bf16: bool,
    steps: int,
    warmup: int,
    num_classes: int,
) -> float:
    torch.manual_seed(0)
    model = build_deeplabv3({"backbone": backbone}, num_classes)
    model.train()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss(ignore_index=255)
    x = torch.randn(batch, 3, *size).contiguous(memory_format=fmt)
    y = torch.randint(0, num_classes, (batch, *size))
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with autocast:
            loss = loss_fn(model(x)["out"], y)
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(spec: dict[str, Any]) -> dict[str, Any]:
    size = tuple(int(v) for v in spec["image_size"])
    rows = []
    for backbone in spec["backbones"]:
        common = dict(
            backbone=backbone,
            batch=int(spec["batch_size"]),
            size=size,
            steps=int(spec["steps"]),
            warmup=int(spec["warmup"]),
            num_classes=int(spec.get("num_classes", 12)),
        )
        fp32 = time_steps(channels_last=False, bf16=False, **common)
        fast = time_steps(channels_last=True, bf16=True, **common)
        rows.append(
            {
                "backbone": backbone,
                "batch": common["batch"],
                "image_size": list(size),
                "fp32_s_per_step": round(fp32, 4),
                "cl_bf16_s_per_step": round(fast, 4),
                "speedup": round(fp32 / fast, 2),
                "threads": torch.get_num_threads(),
            }
        )
    return {"suite": "train_step", "torch": torch.__version__, "rows": rows}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
