"""The launch itself: Hydra sweep -> one training job per Hydra job -> JobReturns.

For every job of a sweep: compose its config as Hydra would, fix its output directory
and build its validated request (:mod:`._request`: S3 layout, data channel, image,
compute), all before anything is uploaded, so a bad setting fails the whole sweep up
front. Then ship the source tarball and the composed config (:mod:`._bundle`) and either
create the training jobs and wait for them (:mod:`._core_aws`, ``sagemaker``) or run
each request here (:mod:`._local`, ``sagemaker_local``). Results come back as Hydra
``JobReturn``s in job order: the objective when waiting, the job's name, ARN and console
link when not.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus, configure_log, setup_globals
from omegaconf import DictConfig, OmegaConf, open_dict

import segtrain.data.storage as storage
from segtrain.errors import LaunchError
from segtrain.runtime.commands import COMMANDS

from . import _bundle, _core_aws, _request
from ._bundle import set_value
from ._jobs import REQUEST_FILE, Job, job_return, write_json

log = logging.getLogger("segtrain.sagemaker")


def launch(
    launcher: Any, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
) -> list[JobReturn]:
    """Entry point of both launchers (``launcher.local`` picks the backend)."""
    setup_globals()
    config = launcher.config
    assert config is not None and launcher.hydra_context is not None
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    opts: dict[str, Any] = dict(launcher.params)
    local = bool(launcher.local)
    orig_hydra_cfg = HydraConfig.instance().cfg

    try:
        jobs, region = _plan(launcher, opts, job_overrides, initial_job_idx, local)
        for job in jobs:
            write_json(job.job_dir / REQUEST_FILE, job.request)
        if opts.get("dry_run"):
            for job in jobs:
                print(f"[dry run] {job.name}: {job.job_dir / REQUEST_FILE}")
            return [job_return(job, JobStatus.COMPLETED, job.request) for job in jobs]

        session = _core_aws.boto_session(region)
        s3 = session.client("s3")
        _upload_inputs(launcher, jobs, s3, opts)
        if local:
            from ._local import run_local

            return [run_local(job, s3, opts) for job in jobs]
        return _core_aws.run_remote(jobs, session, s3, opts, region)
    finally:
        HydraConfig.instance().cfg = orig_hydra_cfg  # type: ignore[assignment]


# --------------------------------------------------------------------------------------
# planning: compose, lay out, build every request before anything leaves this machine


def _plan(
    launcher: Any,
    opts: dict[str, Any],
    job_overrides: Sequence[Sequence[str]],
    initial_job_idx: int,
    local: bool,
) -> tuple[list[Job], str]:
    bucket = _request.validate_bucket(opts.get("bucket"))
    _request.validate_role(opts.get("role"))
    region = opts.get("region") or _core_aws.boto_session(None).region_name
    if opts.get("checkpoint_s3_uri") and len(job_overrides) != 1:
        raise LaunchError(
            f"hydra.launcher.checkpoint_s3_uri resumes one job, but {len(job_overrides)} "
            "jobs were launched; sweeps get a unique checkpoint URI per job"
        )
    now = datetime.now(UTC)
    name_prefix = str(opts.get("job_name_prefix") or "segtrain")
    jobs = []
    for idx, overrides in enumerate(job_overrides):
        num = initial_job_idx + idx
        job = _compose_job(
            launcher,
            overrides,
            num,
            lambda task, n=num: _request.job_name(name_prefix, task, now, n),
        )
        job.task_target = _task_target(job.config)
        if job.task_target is None and not local:
            raise LaunchError(
                "hydra/launcher=sagemaker runs segtrain commands (the composed config's "
                "`task` key names one of train/evaluate/predict/bench); this app's config "
                "has none. hydra/launcher=sagemaker_local can run any Hydra app."
            )
        _plan_request(job, opts, bucket, region)
        jobs.append(job)
    return jobs, region


def _plan_request(job: Job, opts: dict[str, Any], bucket: str, region: str) -> None:
    """The job's image, S3 layout and data channel, then its validated request."""
    from ._images import retrieve_image

    cfg = _plain(job.config)
    name = str(job.config.hydra.job.id)
    instance_type, _ = _request.resolve_compute(cfg, opts, region)
    image = opts.get("image_uri") or retrieve_image(
        _request.framework_of(cfg), instance_type, region, opts.get("framework_version")
    )
    locations = _request.plan_locations(bucket, str(opts.get("prefix") or ""), name)
    if opts.get("checkpoint_s3_uri"):
        locations["checkpoint_uri"] = str(opts["checkpoint_s3_uri"])
    data_uri, job.data_source = _request.data_location(cfg, opts, bucket)
    job.plan = _request.JobPlan(
        job_name=name,
        region=region,
        image_uri=image,
        data_uri=data_uri,
        extra_channels=dict(opts.get("channels") or {}),
        **locations,
    )
    job.request = _request.build_request(cfg, opts, job.plan)


def _compose_job(launcher: Any, overrides: Sequence[str], num: int, name_for: Any) -> Job:
    """The job's config as Hydra composes it; ``name_for(task)`` names the training job."""
    cfg = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, list(overrides))
    task = OmegaConf.select(cfg, "task", default=None)
    set_value(cfg, "hydra.job.id", name_for(str(task) if isinstance(task, str) else "job"))
    set_value(cfg, "hydra.job.num", num)
    HydraConfig.instance().set_config(cfg)
    # absolute: the job may run from another working directory (the container's code dir)
    sweep_dir = str(Path(str(cfg.hydra.sweep.dir)).absolute())
    subdir = str(cfg.hydra.sweep.subdir)
    job_dir = Path(sweep_dir, subdir)
    # literal values: the job runs in another process (or machine) and must not
    # re-evaluate ${now:...} and friends
    set_value(cfg, "hydra.sweep.dir", sweep_dir)
    set_value(cfg, "hydra.sweep.subdir", subdir)
    set_value(cfg, "hydra.runtime.output_dir", str(job_dir))
    HydraConfig.instance().set_config(cfg)
    return Job(num=num, overrides=list(overrides), config=cfg, job_dir=job_dir)


def _task_target(cfg: DictConfig) -> str | None:
    """``COMMANDS[cfg.task]``'s target when the job is a segtrain command."""
    task = OmegaConf.select(cfg, "task", default=None)
    command = COMMANDS.get(str(task)) if isinstance(task, str) else None
    return command.target if command else None


def _plain(cfg: DictConfig) -> dict[str, Any]:
    task_cfg = copy.deepcopy(cfg)
    with open_dict(task_cfg):
        task_cfg.pop("hydra", None)
    container = OmegaConf.to_container(task_cfg, resolve=True, throw_on_missing=False)
    assert isinstance(container, dict)
    return container


# --------------------------------------------------------------------------------------
# shipping


def _upload_inputs(launcher: Any, jobs: list[Job], s3: Any, opts: dict[str, Any]) -> None:
    """Data (once per local root), source tarball (once per framework), config channel."""
    kms = opts.get("kms_key")
    tarballs: dict[str, bytes] = {}
    uploaded: set[tuple[Path, str]] = set()
    with _core_aws.s3_errors():
        for job in jobs:
            assert job.plan is not None
            data = (job.data_source, job.plan.data_uri)
            if job.data_source is not None and job.plan.data_uri and data not in uploaded:
                done = storage.upload(job.data_source, job.plan.data_uri, client=s3, kms_key=kms)
                log.info("%s", done.line())
                uploaded.add(data)
            framework = _request.framework_of(_plain(job.config))
            if framework not in tarballs:
                tarballs[framework] = _bundle.source_tarball(framework)
            storage.put_bytes(job.plan.code_uri, tarballs[framework], client=s3, kms_key=kms)
            task_pickle = None
            if job.task_target is None:
                task_pickle = _bundle.task_pickle(launcher.task_function)
            payload = _bundle.config_payload(
                OmegaConf.to_yaml(job.config),
                {"job_name": job.plan.job_name, "task_target": job.task_target, "num": job.num},
                task_pickle,
            )
            for fname, data in payload.items():
                storage.put_bytes(job.plan.config_uri + fname, data, client=s3, kms_key=kms)
