"""The segtrain commands that run as Hydra tasks, by name: THE registry.

Both ways a task is started read it: ``segtrain.cli`` (one Hydra app per command) and
the SageMaker launcher's container side, which runs the shipped config's ``task`` by
name through Hydra's ``run_job``. It lives here, below both, because a launcher may
import only ``runtime``, ``config`` and the S3 helper (DESIGN.md §1), never the CLI.
Targets are ``"module:function"`` strings, imported only when a task runs, so reading
the registry imports no task, engine or framework.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Command:
    config_name: str
    target: str  # "module:function" called with the composed DictConfig
    help: str


#: the commands whose composed config has ``task: <name>`` (train.yaml, evaluate.yaml, ...)
COMMANDS: dict[str, Command] = {
    "train": Command("train", "segtrain.train:run_train", "train a model (returns the objective)"),
    "evaluate": Command(
        "evaluate", "segtrain.evaluate:run_evaluate", "per-class IoU of a trained model"
    ),
    "predict": Command(
        "predict", "segtrain.predict:run_predict", "write prediction overlays for images"
    ),
    "report": Command(
        "report", "segtrain.report:run_report", "one HTML page of a run (or a sweep)"
    ),
    "bench": Command("bench", "segtrain.bench:run_bench", "run the benchmarks, write results"),
}


def resolve_target(target: str) -> Callable[[Any], Any]:
    """The function a ``"module:function"`` target names (imports its module)."""
    module_name, func_name = target.split(":")
    return getattr(importlib.import_module(module_name), func_name)
