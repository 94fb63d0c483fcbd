"""The ``sweep=sagemaker_tuner`` Sweeper: the whole sweep as one SageMaker tuning job.

Thin, like the launcher: the search space is THE sweep-syntax parser
(:func:`hydra_plugins.segtrain_optuna.space.search_space`), the trial template is the job
``hydra/launcher=sagemaker`` would plan for the fixed overrides (:func:`._core._plan`:
compose, image, S3 layout, validated CreateTrainingJob request), its code and config are
shipped by the launcher's own upload step, and :mod:`._tuning` reshapes that request into
one validated ``CreateHyperParameterTuningJob``, sent with boto3: the SDK v3
``HyperparameterTuner`` (sagemaker 3.27) drops the ModelTrainer's checkpoint config from
the training-job definition and serialises static hyperparameters with ``str()`` (a bool
arrives as ``True``, a dict as a Python repr).

Implemented: ``wait=false`` (submit, print name / ARN / console link, write
``tuning_job.json``); inside each trial the drawn values become schema-checked overrides
and checkpoints are keyed by the trial's training-job name (:func:`._tuning.tuned_overrides`,
:func:`._tuning.trial_checkpoint_dir`, called from :mod:`._remote`). Not yet: ``wait=true``
polling with the trials table and ``optimization_results.yaml``, the status command,
``local=true``; each fails before anything is uploaded with a message saying so.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import configure_log, setup_globals
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra_plugins.segtrain_optuna.space import search_space
from omegaconf import DictConfig, OmegaConf

from segtrain.errors import LaunchError, SegtrainError

from . import _core, _core_aws, _request, _tuning
from . import tuner_config as _tuner_config  # noqa: F401  (registers the sweeper)
from ._jobs import write_json

log = logging.getLogger("segtrain.sagemaker")

REQUEST_FILE = "tuning_request.json"
INFO_FILE = "tuning_job.json"
NOT_IMPLEMENTED = (
    "is not implemented yet for sweep=sagemaker_tuner; use hydra.sweeper.wait=false "
    "(submit and return) and follow the tuning job in the SageMaker console"
)


def tuning_job_name(prefix: str, when: datetime) -> str:
    """``<prefix>-<yymmdd-hhmmss>``, shortened to SageMaker's 32 characters."""
    stamp = when.strftime("-%y%m%d-%H%M%S")
    base = "".join(c if c.isalnum() or c == "-" else "-" for c in prefix).strip("-") or "segtrain"
    return _tuning.validate_tuning_job_name(
        base[: _tuning.MAX_TUNING_JOB_NAME - len(stamp)] + stamp
    )


def console_url(region: str, name: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}"
        f"#/hyper-tuning-jobs/{name}"
    )


class SageMakerTuner(Sweeper):
    def __init__(self, **options: Any) -> None:
        self.options = options
        self.config: DictConfig | None = None
        self.launcher: Any = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from hydra.core.plugins import Plugins

        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        try:
            return self._sweep(arguments)
        except SegtrainError as err:
            from .launcher import ReportedLaunchError

            raise ReportedLaunchError(
                f"{type(err).__name__}: {' '.join(str(err).split())}"
            ) from err

    def _sweep(self, arguments: list[str]) -> Any:
        assert self.config is not None and self.launcher is not None
        opts = dict(self.options)
        if opts.get("local") or getattr(self.launcher, "local", False):
            raise LaunchError(
                "a docker-free local run of the tuning job's trials (hydra.sweeper.local=true "
                "or hydra/launcher=sagemaker_local) " + NOT_IMPLEMENTED
            )
        if opts.get("wait", True):
            raise LaunchError(
                "hydra.sweeper.wait=true (poll, trials table, optimization_results.yaml, best "
                "model download) " + NOT_IMPLEMENTED
            )
        dims, fixed = search_space(list(arguments), dict(opts.get("params") or {}))
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        atomic_multirun(sweep_dir, self.config)
        launcher_opts: dict[str, Any] = dict(self.launcher.params)
        orig = HydraConfig.instance().cfg
        try:  # planning sets the job's HydraConfig, which its interpolations need
            name, arn, region = self._submit(opts, launcher_opts, dims, fixed, sweep_dir)
        finally:
            HydraConfig.instance().cfg = orig  # type: ignore[assignment]
        url = console_url(region, name)
        info = {"name": name, "arn": arn, "console_url": url, "region": region}
        write_json(sweep_dir / INFO_FILE, info)
        print(f"submitted tuning job {name}\n  arn: {arn}\n  console: {url}", flush=True)
        return [{"tuning_job_name": name, "arn": arn, "console_url": url}]

    def _submit(
        self,
        opts: dict[str, Any],
        launcher_opts: dict[str, Any],
        dims: list[Any],
        fixed: list[str],
        sweep_dir: Path,
    ) -> tuple[str, str, str]:
        """Plan the trial template, build and validate the request, ship, submit."""
        jobs, region = _core._plan(self.launcher, launcher_opts, [fixed], 0, False)
        (job,) = jobs
        name = str(opts.get("tuning_job_name") or "") or tuning_job_name(
            str(launcher_opts.get("job_name_prefix") or "segtrain"), datetime.now(UTC)
        )
        bucket = _request.validate_bucket(launcher_opts.get("bucket"))
        root = _request.job_prefix_uri(bucket, str(launcher_opts.get("prefix") or ""), name)
        metric = str(OmegaConf.select(job.config, "optimized_metric", default="val_mIoU"))
        request = _tuning.build_tuning_request(
            name, dims, job.request, opts, metric, f"{root}/checkpoints/"
        )
        write_json(sweep_dir / REQUEST_FILE, request)
        session = _core_aws.boto_session(region)
        _core._upload_inputs(self.launcher, jobs, session.client("s3"), launcher_opts)
        return name, submit(session.client("sagemaker"), request), region


def atomic_multirun(sweep_dir: Path, config: DictConfig) -> None:
    from segtrain.runtime.checkpoints import atomic_write_text

    atomic_write_text(sweep_dir / "multirun.yaml", OmegaConf.to_yaml(config))


def submit(sm: Any, request: dict[str, Any]) -> str:
    try:
        return sm.create_hyper_parameter_tuning_job(**request)["HyperParameterTuningJobArn"]
    except Exception as err:
        raise _core_aws._client_error(
            f"CreateHyperParameterTuningJob {request['HyperParameterTuningJobName']} failed", err
        ) from None
