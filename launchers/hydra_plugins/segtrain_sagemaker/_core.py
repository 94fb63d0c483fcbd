"""The launch itself: Hydra sweep -> per-job request -> submit (or run here) -> JobReturns.

For every job of a sweep: compose its config as Hydra would, fix its output directory,
decide its S3 layout and image, build and validate the request (all before anything is
uploaded, so a bad setting fails the whole sweep up front), then ship the source tarball
and the composed config and either create the training job (``sagemaker``) or run the
request here through the toolkit (``sagemaker_local``). Results come back as Hydra
``JobReturn``s in job order: the objective when waiting, the job's name, ARN and console
link when not.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobRuntime, JobStatus, configure_log, setup_globals
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from segtrain.errors import LaunchError

from . import _bundle, _request, _s3, _submit
from ._remote import RESULT_FILE, RETURN_PICKLE

log = logging.getLogger("segtrain.sagemaker")

REQUEST_FILE = "sagemaker_request.json"
JOB_INFO_FILE = "sagemaker_job.json"


@dataclass
class Job:
    num: int
    overrides: list[str]
    config: DictConfig  # composed, with the hydra node
    job_dir: Path
    plan: _request.JobPlan | None = None
    request: dict[str, Any] = field(default_factory=dict)
    task_target: str | None = None
    arn: str | None = None


@dataclass
class SubmittedJob:
    """Return value of a job launched with ``wait=false``."""

    job_name: str
    arn: str | None
    console_url: str
    request_file: str


def _task_target(cfg: DictConfig) -> str | None:
    """``COMMANDS[cfg.task]``'s target when the job is a segtrain command."""
    from segtrain.runtime.commands import COMMANDS

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


def _set(cfg: DictConfig, key: str, value: Any) -> None:
    """Set ``key`` in Hydra's read-only node (each level may carry its own flag)."""
    parent_key, _, leaf = key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key)
    with read_write(parent), open_dict(parent):
        parent[leaf] = value


def _compose_job(
    launcher: Any, overrides: Sequence[str], num: int, name_for: Any
) -> tuple[Job, str]:
    """The job's config as Hydra composes it; ``name_for(task)`` names the training job."""
    cfg = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, list(overrides))
    task = OmegaConf.select(cfg, "task", default=None)
    name = name_for(str(task) if isinstance(task, str) else "job")
    _set(cfg, "hydra.job.id", name)
    _set(cfg, "hydra.job.num", num)
    HydraConfig.instance().set_config(cfg)
    # absolute: the job may run from another working directory (the container's code dir)
    sweep_dir = str(Path(str(cfg.hydra.sweep.dir)).absolute())
    subdir = str(cfg.hydra.sweep.subdir)
    job_dir = Path(sweep_dir, subdir)
    # literal values: the job runs in another process (or machine) and must not
    # re-evaluate ${now:...} and friends
    _set(cfg, "hydra.sweep.dir", sweep_dir)
    _set(cfg, "hydra.sweep.subdir", subdir)
    _set(cfg, "hydra.runtime.output_dir", str(job_dir))
    HydraConfig.instance().set_config(cfg)
    return Job(num=num, overrides=list(overrides), config=cfg, job_dir=job_dir), name


def _data_uri(
    cfg: dict[str, Any], opts: dict[str, Any], bucket: str, s3: Any | None, uploaded: dict[str, str]
) -> str | None:
    dataset = cfg.get("dataset")
    if not isinstance(dataset, dict) or not dataset.get("root"):
        return None
    root = str(dataset["root"])
    if root.startswith("s3://"):
        return root if root.endswith("/") else root + "/"
    local = Path(root).expanduser()
    if opts.get("upload_data"):
        if not local.is_dir():
            raise LaunchError(
                f"dataset.root={root!r} is not a directory, so hydra.launcher.upload_data "
                "has nothing to upload"
            )
        if str(local.resolve()) not in uploaded:
            uri = _request.job_prefix_uri(bucket, str(opts.get("prefix", "")), "data")
            uri = f"{uri}/{dataset.get('name', local.name)}/"
            if s3 is not None:
                n = _s3.upload_dir(s3, local, uri, opts.get("kms_key"))
                log.info("uploaded %d file(s) of %s to %s", n, local, uri)
            uploaded[str(local.resolve())] = uri
        return uploaded[str(local.resolve())]
    if dataset.get("format") == "synthetic":
        log.info("dataset %s is procedural: generated inside the job", dataset.get("name"))
        return None
    raise LaunchError(
        f"dataset.root={root!r} is a local path, but SageMaker reads data from S3: pass "
        "dataset.root=s3://<bucket>/<prefix> (see `segtrain data upload`) or "
        "hydra.launcher.upload_data=true to upload it with the job"
    )


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
            job.job_dir.mkdir(parents=True, exist_ok=True)
            (job.job_dir / REQUEST_FILE).write_text(json.dumps(job.request, indent=2))
        if opts.get("dry_run"):
            for job in jobs:
                print(f"[dry run] {job.request['TrainingJobName']}: {job.job_dir / REQUEST_FILE}")
            return [_job_return(job, JobStatus.COMPLETED, job.request) for job in jobs]

        session = _submit.boto_session(region)
        s3 = session.client("s3")
        _upload_inputs(launcher, jobs, s3, opts, local)
        if local:
            return [_run_local(job, s3, opts) for job in jobs]
        return _run_remote(jobs, session, s3, opts, region)
    finally:
        HydraConfig.instance().cfg = orig_hydra_cfg  # type: ignore[assignment]


def _plan(
    launcher: Any,
    opts: dict[str, Any],
    job_overrides: Sequence[Sequence[str]],
    initial_job_idx: int,
    local: bool,
) -> tuple[list[Job], str]:
    """Compose, lay out and build every request before anything leaves this machine."""
    from ._images import retrieve_image

    bucket = _request.validate_bucket(opts.get("bucket"))
    _request.validate_role(opts.get("role"))
    region = opts.get("region") or _submit.boto_session(None).region_name
    if opts.get("checkpoint_s3_uri") and len(job_overrides) != 1:
        raise LaunchError(
            f"hydra.launcher.checkpoint_s3_uri resumes one job, but {len(job_overrides)} "
            "jobs were launched; sweeps get a unique checkpoint URI per job"
        )
    now = datetime.now(UTC)
    name_prefix = str(opts.get("job_name_prefix") or "segtrain")
    uploaded: dict[str, str] = {}
    jobs = []
    for idx, overrides in enumerate(job_overrides):
        num = initial_job_idx + idx
        job, name = _compose_job(
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
        cfg = _plain(job.config)
        instance_type, _ = _request.resolve_compute(cfg, opts, region)
        framework = str((cfg.get("model") or {}).get("framework", "torch"))
        image = opts.get("image_uri") or retrieve_image(
            framework, instance_type, region, opts.get("framework_version")
        )
        locations = _request.plan_locations(bucket, str(opts.get("prefix") or ""), name)
        if opts.get("checkpoint_s3_uri"):
            locations["checkpoint_uri"] = str(opts["checkpoint_s3_uri"])
        job.plan = _request.JobPlan(
            job_name=name,
            region=region,
            image_uri=image,
            data_uri=_data_uri(cfg, opts, bucket, None, uploaded),
            extra_channels=dict(opts.get("channels") or {}),
            **locations,
        )
        job.request = _request.build_request(cfg, opts, job.plan)
        jobs.append(job)
    return jobs, region


def _upload_inputs(
    launcher: Any, jobs: list[Job], s3: Any, opts: dict[str, Any], local: bool
) -> None:
    kms = opts.get("kms_key")
    tarballs: dict[str, bytes] = {}
    uploaded: dict[str, str] = {}
    for job in jobs:
        assert job.plan is not None
        cfg = _plain(job.config)
        if opts.get("upload_data"):
            _data_uri(cfg, opts, _request.validate_bucket(opts.get("bucket")), s3, uploaded)
        framework = str((cfg.get("model") or {}).get("framework", "torch"))
        if framework not in tarballs:
            tarballs[framework] = _bundle.source_tarball(framework)
        _s3.put_bytes(s3, job.plan.code_uri, tarballs[framework], kms)
        task_pickle = None
        if job.task_target is None:
            import cloudpickle
            from hydra.core.singleton import Singleton

            task_pickle = cloudpickle.dumps(
                {"task_function": launcher.task_function, "singleton_state": Singleton.get_state()}
            )
        payload = _bundle.config_payload(
            OmegaConf.to_yaml(job.config),
            {"job_name": job.plan.job_name, "task_target": job.task_target, "num": job.num},
            task_pickle,
        )
        for fname, data in payload.items():
            _s3.put_bytes(s3, job.plan.config_uri + fname, data, kms)


def _job_return(job: Job, status: JobStatus, value: Any) -> JobReturn:
    """A JobReturn shaped like Hydra's ``run_job`` makes one."""
    ret = JobReturn()
    task_cfg = copy.deepcopy(job.config)
    with open_dict(task_cfg):
        del task_cfg["hydra"]
    ret.cfg = task_cfg
    ret.hydra_cfg = OmegaConf.masked_copy(job.config, "hydra")  # type: ignore[assignment]
    ret.overrides = list(job.overrides)
    chdir = OmegaConf.select(job.config, "hydra.job.chdir", default=None)
    if chdir is None:  # as run_job decides it
        from hydra import version

        chdir = not version.base_at_least("1.2")
    ret.working_dir = str(job.job_dir) if chdir else os.getcwd()
    ret.task_name = JobRuntime.instance().get("name")
    ret.status = status
    ret.return_value = value
    return ret


def _failed(job: Job, desc: dict[str, Any]) -> JobReturn:
    reason = desc.get("FailureReason") or "no FailureReason given"
    err = LaunchError(
        f"training job {desc['TrainingJobName']} {desc['TrainingJobStatus'].lower()}: {reason}"
    )
    return _job_return(job, JobStatus.FAILED, err)


def _objective(job: Job, desc: dict[str, Any]) -> Any:
    result_file = job.job_dir / RESULT_FILE
    if result_file.is_file():
        result = json.loads(result_file.read_text())
        if result.get("status") != "COMPLETED":
            raise LaunchError(
                f"training job {desc['TrainingJobName']} reported: {result.get('error')}"
            )
        return result.get("return_value")
    key = str(OmegaConf.select(job.config, "optimized_metric", default="val_mIoU"))
    metrics = _submit.final_metrics(desc)
    if key in metrics:
        return metrics[key]
    raise LaunchError(
        f"training job {desc['TrainingJobName']} completed but reported no {key} "
        f"(final metrics: {sorted(metrics)}; no {RESULT_FILE} in its output)"
    )


def _run_local(job: Job, s3: Any, opts: dict[str, Any]) -> JobReturn:
    from ._local import LocalTrainingRun

    assert job.plan is not None
    base = (
        Path(opts["base_dir"]) / job.plan.job_name
        if opts.get("base_dir")
        else job.job_dir / "sagemaker" / job.plan.job_name
    )
    run = LocalTrainingRun(
        job.request,
        base,
        s3,
        timeout=opts.get("timeout") or opts.get("max_run"),
        shared_filesystem=True,
    )
    log.info("running %s here (docker-free) under %s", job.plan.job_name, base)
    result = run.run()
    desc = result.describe()
    (job.job_dir / JOB_INFO_FILE).write_text(json.dumps(desc, indent=2, default=str))
    if result.status != "Completed":
        return _failed(job, desc)
    result_file = base / "output" / "data" / RESULT_FILE
    outcome = json.loads(result_file.read_text()) if result_file.is_file() else {}
    pickled = base / "output" / "data" / RETURN_PICKLE
    if pickled.is_file():  # written by this machine's own child process
        value = pickle.loads(pickled.read_bytes())
    elif outcome:
        value = outcome.get("return_value")
    else:
        value = _objective(job, desc)
    ret = _job_return(job, JobStatus.COMPLETED, value)
    if outcome.get("working_dir"):  # the filesystem is shared: where the task really ran
        ret.working_dir = outcome["working_dir"]
    return ret


def _run_remote(
    jobs: list[Job], session: Any, s3: Any, opts: dict[str, Any], region: str
) -> list[JobReturn]:
    sm = session.client("sagemaker")
    for job in jobs:
        job.arn = _submit.create_training_job(sm, job.request)
        name = job.request["TrainingJobName"]
        url = _request.console_url(region, name)
        info = {"job_name": name, "arn": job.arn, "console_url": url, "region": region}
        (job.job_dir / JOB_INFO_FILE).write_text(json.dumps(info, indent=2))
        print(f"submitted {name}\n  arn: {job.arn}\n  console: {url}", flush=True)
    if not opts.get("wait", True):
        return [
            _job_return(
                job,
                JobStatus.COMPLETED,
                SubmittedJob(
                    job_name=job.request["TrainingJobName"],
                    arn=job.arn,
                    console_url=_request.console_url(region, job.request["TrainingJobName"]),
                    request_file=str(job.job_dir / REQUEST_FILE),
                ),
            )
            for job in jobs
        ]
    logs = session.client("logs") if opts.get("logs", True) else None
    returns = []
    for job in jobs:
        name = job.request["TrainingJobName"]
        desc = _submit.wait(sm, name, float(opts.get("poll_seconds") or 30), logs)
        (job.job_dir / JOB_INFO_FILE).write_text(json.dumps(desc, indent=2, default=str))
        _submit.fetch_outputs(s3, desc, job.job_dir)
        if desc["TrainingJobStatus"] != "Completed":
            returns.append(_failed(job, desc))
            continue
        try:
            returns.append(_job_return(job, JobStatus.COMPLETED, _objective(job, desc)))
        except LaunchError as err:
            returns.append(_job_return(job, JobStatus.FAILED, err))
    return returns
