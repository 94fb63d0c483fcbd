"""Runs inside the training container: the shipped composed config -> the Hydra job.

The ``sagemaker-training`` toolkit starts ``sm_entry.py`` (which calls :func:`main`) in
``/opt/ml/code`` with the ``SM_*`` environment. We read ``config.yaml`` and ``job.json``
from the ``config`` channel, point Hydra's job directory at ``SM_OUTPUT_DATA_DIR`` (it is
uploaded as ``output.tar.gz``, so the launcher can unpack it into the local multirun
directory) and the dataset root at the ``train`` channel, then run the task through
Hydra's ``run_job`` exactly as a local run would: same ``.hydra/`` files, same logging,
same callbacks. The segtrain task is imported from the target the launcher read from
:mod:`segtrain.runtime.commands` (the registry ``segtrain.cli`` reads too, so neither
side imports the CLI); the docker-free runner may instead ship a pickled task function,
since it runs on the same interpreter.

Outcome: ``segtrain_job.json`` in the output data (status + JSON return value) and, on
failure, a one-paragraph reason in ``/opt/ml/output/failure`` (SageMaker's
``FailureReason``) and a non-zero exit.
"""

from __future__ import annotations

import json
import logging
import math
import os
import pickle
import sys
import traceback
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from segtrain.errors import LaunchError, SegtrainError
from segtrain.runtime.checkpoints import atomic_write_bytes, atomic_write_text
from segtrain.runtime.commands import resolve_target
from segtrain.runtime.env import RunContext

from ._bundle import JOB_FILE, RESULT_FILE, RETURN_PICKLE, TASK_PICKLE, set_value
from ._request import CONFIG_CHANNEL, CONFIG_FILE, DATA_CHANNEL

log = logging.getLogger("segtrain.sagemaker")

#: set by the docker-free runner only: the filesystem is shared with the launcher, so the
#: job keeps the Hydra directory the launcher planned instead of the container's.
LOCAL_RUN_ENV = "SEGTRAIN_SM_LOCAL_RUN"


def _config_dir(ctx: RunContext) -> Path:
    env_dir = os.environ.get(f"SM_CHANNEL_{CONFIG_CHANNEL.upper()}")
    if env_dir:
        return Path(env_dir)
    return ctx.channels.get(CONFIG_CHANNEL) or Path(
        os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml"), "input", "data", CONFIG_CHANNEL
    )


def load_config(path: Path) -> DictConfig:
    """The shipped YAML on Hydra's typed ``hydra`` node (HydraConfig insists on it)."""
    from hydra.conf import HydraConf

    hydra_node = OmegaConf.structured(HydraConf)
    OmegaConf.set_struct(hydra_node, False)  # the composed node has keys beyond the schema
    cfg = OmegaConf.merge({"hydra": hydra_node}, OmegaConf.load(path))
    assert isinstance(cfg, DictConfig)
    return cfg


def prepare_config(cfg: DictConfig, ctx: RunContext, local_run: bool) -> DictConfig:
    """Point Hydra's job dir and the dataset root at the container's paths."""
    if not local_run:
        set_value(cfg, "hydra.sweep.dir", str(ctx.output_dir))
        set_value(cfg, "hydra.sweep.subdir", ".")
        set_value(cfg, "hydra.runtime.cwd", os.getcwd())
    data = ctx.channels.get(DATA_CHANNEL)
    if data is not None and "dataset" in cfg:
        log.info("dataset.root -> %s (the '%s' channel)", data, DATA_CHANNEL)
        set_value(cfg, "dataset.root", str(data))
    return cfg


def load_task(job: dict[str, Any], config_dir: Path) -> Any:
    """The task function: a segtrain command by name, or the runner's pickled function."""
    target = job.get("task_target")
    if target:
        return resolve_target(str(target))
    pickled = config_dir / TASK_PICKLE
    if not pickled.is_file():
        raise LaunchError(f"{config_dir} has neither a task target in {JOB_FILE} nor {TASK_PICKLE}")
    payload = pickle.loads(pickled.read_bytes())
    from hydra.core.singleton import Singleton

    Singleton.set_state(payload["singleton_state"])
    return payload["task_function"]


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def failure_message(err: BaseException) -> str:
    """One paragraph: segtrain errors are already written for users."""
    if isinstance(err, SegtrainError):
        return " ".join(str(err).split())
    return f"{type(err).__name__}: {' '.join(str(err).split())}"


def run(cfg: DictConfig, task: Any) -> tuple[bool, Any, str | None]:
    """Run ``task`` through Hydra's ``run_job``: (succeeded, value or exception, working dir)."""
    from hydra._internal.callbacks import Callbacks
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.utils import JobRuntime, JobStatus, run_job, setup_globals
    from hydra.types import HydraContext

    setup_globals()
    JobRuntime.instance().set("name", str(cfg.hydra.job.name))
    HydraConfig.instance().set_config(cfg)
    context = HydraContext(config_loader=None, callbacks=Callbacks(cfg))  # type: ignore[arg-type]
    ret = run_job(
        hydra_context=context,
        task_function=task,
        config=cfg,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )
    if ret.status == JobStatus.COMPLETED:
        return True, ret.return_value, ret.working_dir
    return False, ret._return_value, ret.working_dir


def write_result(
    ctx: RunContext, ok: bool, value: Any, local_run: bool, working_dir: str | None = None
) -> None:
    if not ctx.is_global_zero:
        return
    ctx.output_dir.mkdir(parents=True, exist_ok=True)
    result = {
        "status": "COMPLETED" if ok else "FAILED",
        "return_value": _jsonable(value) if ok else None,
        "error": None if ok else failure_message(value),
        # where run_job ran the task (chdir or not); the launcher reports it for local runs
        "working_dir": working_dir,
    }
    atomic_write_text(ctx.output_dir / RESULT_FILE, json.dumps(result, indent=2))
    if local_run and ok:
        import cloudpickle

        atomic_write_bytes(ctx.output_dir / RETURN_PICKLE, cloudpickle.dumps(value))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    ctx = RunContext.detect()
    local_run = os.environ.get(LOCAL_RUN_ENV) == "1"
    try:
        config_dir = _config_dir(ctx)
        job = json.loads((config_dir / JOB_FILE).read_text())
        cfg = load_config(config_dir / CONFIG_FILE)
        from ._tuning import container_hyperparameters, trial_checkpoint_dir, tuned_overrides

        base = os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml")
        hps = container_hyperparameters(os.environ, base)
        if tuned_overrides(cfg, hps):  # a tuning-job trial: its values, its own checkpoints
            os.environ["SEGTRAIN_CHECKPOINT_DIR"] = trial_checkpoint_dir(os.environ, base)
        log.info("job %s: %s", job.get("job_name"), job.get("task_target") or "pickled task")
        task = load_task(job, config_dir)
        ok, value, working_dir = run(prepare_config(cfg, ctx, local_run), task)
    except Exception as err:  # before the task ran: the config or the task cannot load
        ok, value, working_dir = False, err, None
    write_result(ctx, ok, value, local_run, working_dir)
    if ok:
        return
    err = value if isinstance(value, BaseException) else RuntimeError(str(value))
    traceback.print_exception(type(err), err, err.__traceback__, file=sys.stderr)
    if ctx.failure_file is not None and not (
        ctx.failure_file.is_file() and ctx.failure_file.read_text().strip()
    ):
        ctx.write_failure(failure_message(err))
    sys.stdout.flush()
    sys.exit(1)


if __name__ == "__main__":
    main()
