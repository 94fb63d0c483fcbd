"""``segtrain train``: compose -> RunContext -> engine by model.framework -> objective."""

from __future__ import annotations

import json
import logging
import math

from omegaconf import DictConfig

from segtrain.engines.base import load_engine
from segtrain.errors import ConfigError, SegtrainError
from segtrain.report import write_train_report
from segtrain.runtime.checkpoints import atomic_write_text
from segtrain.runtime.env import RunContext
from segtrain.tasks_common import log_validation_table, resolve_config

log = logging.getLogger("segtrain.train")


def run_train(cfg: DictConfig) -> float:
    """Train and return ``cfg.optimized_metric`` (what Hydra sweepers optimise)."""
    resolved = resolve_config(cfg)
    ctx = RunContext.detect(resolved.paths)
    if ctx.is_sagemaker:
        # SageMaker decides where things go: keep the saved config truthful
        resolved.paths.checkpoint_dir = str(ctx.checkpoint_dir)
        resolved.paths.model_dir = str(ctx.model_dir)
        resolved.paths.output_dir = str(ctx.output_dir)
        resolved.paths.log_dir = str(ctx.log_dir)
    engine = load_engine(str(resolved.model.framework))
    log.info(
        "Training %s (%s) on %s [%s] with trainer=%s hardware=%s",
        resolved.model.name,
        resolved.model.framework,
        resolved.dataset.name,
        ctx.platform,
        resolved.trainer.name,
        resolved.hardware.name,
    )
    try:
        result = engine.fit(resolved, ctx)
    except SegtrainError as err:
        ctx.write_failure(" ".join(str(err).split()))
        raise
    except Exception as err:
        ctx.write_failure(f"{type(err).__name__}: {err}")
        raise
    if ctx.is_global_zero:
        log_validation_table(result)

    key = str(resolved.optimized_metric)
    if key not in result.metrics:
        raise ConfigError(
            f"optimized_metric={key!r} was not reported; available: {sorted(result.metrics)}"
        )
    objective = float(result.metrics[key])
    if ctx.is_global_zero:
        summary = {
            "optimized_metric": key,
            "objective": objective if math.isfinite(objective) else None,
            "epochs_completed": result.epochs_completed,
            "resumed_from": str(result.resumed_from) if result.resumed_from else None,
            "model_dir": str(result.model_dir),
            "metrics": {k: (v if math.isfinite(v) else None) for k, v in result.metrics.items()},
        }
        atomic_write_text(ctx.output_dir / "results.json", json.dumps(summary, indent=2))
        log.info("%s=%.4f; model in %s", key, objective, result.model_dir)
        # a repeat of a finished run reports its result and changes no file
        if resolved.report and not result.extra.get("already_finished"):
            write_train_report(resolved, ctx.output_dir)
    return objective
