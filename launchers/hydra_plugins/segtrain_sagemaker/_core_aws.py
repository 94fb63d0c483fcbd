"""The AWS side of a launch: create training jobs, wait for them, stream logs, fetch outputs.

:func:`run_remote` is the ``hydra/launcher=sagemaker`` backend: planned jobs in, Hydra
``JobReturn``s out (:mod:`._jobs` shapes them, as for the docker-free backend).

boto3 directly rather than the SDK v3 ``ModelTrainer``, for three reasons found in
sagemaker 3.27: (1) with source code, ``ModelTrainer`` replaces the image's entry point
by its own ``sm_train.sh`` driver, hard-wired to ``/opt/ml`` (it ignores
``SAGEMAKER_BASE_DIR``), so the same request could not be run docker-free, while the
framework containers' toolkit contract used here runs unchanged on a laptop;
(2) it names the job inside ``train()``, so the per-job checkpoint URI and config channel
cannot be planned up front, and the request it sends is only reachable through a private
method (``_create_training_job_args``), which rules out a pure, tested request builder;
(3) its session bootstrapping (default bucket, role lookup, config files, telemetry)
makes calls that a launcher given role, bucket and region does not need. The SDK is
still used for what it is good at offline: image URIs and instance GPU counts.

S3 goes through the one S3 helper (:mod:`segtrain.data.storage`); :func:`s3_errors`
turns its errors into launcher errors naming the settings to check.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus

import segtrain.data.storage as storage
from segtrain.errors import DataError, LaunchError

from ._bundle import extract
from ._jobs import (
    JOB_INFO_FILE,
    REQUEST_FILE,
    Job,
    SubmittedJob,
    failed,
    job_return,
    objective,
    write_json,
)
from ._request import console_url

log = logging.getLogger("segtrain.sagemaker")

TERMINAL = {"Completed", "Failed", "Stopped"}
LOG_GROUP = "/aws/sagemaker/TrainingJobs"


def boto_session(region: str | None) -> Any:
    import boto3

    session = boto3.session.Session(region_name=region) if region else boto3.session.Session()
    if not session.region_name:
        raise LaunchError(
            "no AWS region: pass hydra.launcher.region=<region> or set AWS_REGION / "
            "AWS_DEFAULT_REGION"
        )
    return session


@contextlib.contextmanager
def s3_errors() -> Iterator[None]:
    """An S3 failure while launching or running a job is a LaunchError."""
    try:
        yield
    except DataError as err:
        raise LaunchError(
            f"{err} (check hydra.launcher.bucket, the region and your credentials)"
        ) from None


def _client_error(action: str, err: Exception) -> LaunchError:
    from botocore.exceptions import ClientError, NoCredentialsError

    if isinstance(err, NoCredentialsError):
        return LaunchError(
            f"{action}: no AWS credentials (run `aws configure` / `aws sso login` or set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        )
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        return LaunchError(f"{action}: {error.get('Code')}: {error.get('Message')}")
    return LaunchError(f"{action}: {err}")


def create_training_job(sm: Any, request: Mapping[str, Any]) -> str:
    """Submit; returns the job ARN."""
    try:
        return sm.create_training_job(**request)["TrainingJobArn"]
    except Exception as err:
        raise _client_error(f"CreateTrainingJob {request['TrainingJobName']} failed", err) from None


def describe(sm: Any, name: str) -> dict[str, Any]:
    try:
        return sm.describe_training_job(TrainingJobName=name)
    except Exception as err:
        raise _client_error(f"DescribeTrainingJob {name} failed", err) from None


class LogTail:
    """Prints new CloudWatch log events of a job's streams (one per instance)."""

    def __init__(self, logs: Any, name: str, printer: Callable[[str], None] = print) -> None:
        self.logs, self.name, self.printer = logs, name, printer
        self.tokens: dict[str, str | None] = {}

    def poll(self) -> int:
        try:
            streams = self.logs.describe_log_streams(
                logGroupName=LOG_GROUP, logStreamNamePrefix=f"{self.name}/"
            ).get("logStreams", [])
        except Exception:  # the group appears only once the job starts
            return 0
        printed = 0
        for stream in streams:
            sname = stream["logStreamName"]
            kwargs: dict[str, Any] = {
                "logGroupName": LOG_GROUP,
                "logStreamName": sname,
                "startFromHead": True,
            }
            if self.tokens.get(sname):
                kwargs["nextToken"] = self.tokens[sname]
            while True:
                page = self.logs.get_log_events(**kwargs)
                for event in page.get("events", []):
                    self.printer(event["message"])
                    printed += 1
                token = page.get("nextForwardToken")
                if not token or token == kwargs.get("nextToken"):
                    break
                kwargs["nextToken"] = token
            self.tokens[sname] = kwargs.get("nextToken")
        return printed


def wait(
    sm: Any,
    name: str,
    poll_seconds: float,
    logs: Any | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll until the job is Completed, Failed or Stopped; stream logs meanwhile."""
    tail = LogTail(logs, name) if logs is not None else None
    last = None
    while True:
        desc = describe(sm, name)
        status = desc["TrainingJobStatus"], desc.get("SecondaryStatus")
        if status != last:
            log.info("%s: %s (%s)", name, *status)
            last = status
        if tail is not None:
            tail.poll()
        if desc["TrainingJobStatus"] in TERMINAL:
            if tail is not None:
                tail.poll()
            return desc
        sleep(poll_seconds)


def output_archive_uri(desc: Mapping[str, Any]) -> str:
    """``output.tar.gz`` (the container's /opt/ml/output/data) beside model.tar.gz."""
    base = desc["OutputDataConfig"]["S3OutputPath"].rstrip("/")
    return f"{base}/{desc['TrainingJobName']}/output/output.tar.gz"


def model_archive_uri(desc: Mapping[str, Any]) -> str:
    artifacts = desc.get("ModelArtifacts", {}).get("S3ModelArtifacts")
    if artifacts:
        return artifacts
    base = desc["OutputDataConfig"]["S3OutputPath"].rstrip("/")
    return f"{base}/{desc['TrainingJobName']}/output/model.tar.gz"


def fetch_outputs(s3: Any, desc: Mapping[str, Any], dest: Path) -> bool:
    """Unpack the job's output.tar.gz into ``dest`` (the local job dir); False if absent."""
    uri = output_archive_uri(desc)
    with s3_errors():
        if not storage.exists(uri, client=s3):
            log.warning(
                "%s has no %s; nothing to unpack into %s", desc["TrainingJobName"], uri, dest
            )
            return False
        archive = storage.get_bytes(uri, client=s3)
    extract(archive, dest)
    return True


def run_remote(
    jobs: list[Job], session: Any, s3: Any, opts: dict[str, Any], region: str
) -> list[JobReturn]:
    """``sagemaker``: create every job, then (``wait``) wait for each; their JobReturns."""
    sm = session.client("sagemaker")
    for job in jobs:
        job.arn = create_training_job(sm, job.request)
        url = console_url(region, job.name)
        info = {"job_name": job.name, "arn": job.arn, "console_url": url, "region": region}
        write_json(job.job_dir / JOB_INFO_FILE, info)
        print(f"submitted {job.name}\n  arn: {job.arn}\n  console: {url}", flush=True)
    if not opts.get("wait", True):
        return [
            job_return(
                job,
                JobStatus.COMPLETED,
                SubmittedJob(
                    job_name=job.name,
                    arn=job.arn,
                    console_url=console_url(region, job.name),
                    request_file=str(job.job_dir / REQUEST_FILE),
                ),
            )
            for job in jobs
        ]
    logs = session.client("logs") if opts.get("logs", True) else None
    returns = []
    for job in jobs:
        desc = wait(sm, job.name, float(opts.get("poll_seconds") or 30), logs)
        write_json(job.job_dir / JOB_INFO_FILE, desc)
        fetch_outputs(s3, desc, job.job_dir)
        if desc["TrainingJobStatus"] != "Completed":
            returns.append(failed(job, desc))
            continue
        try:
            returns.append(job_return(job, JobStatus.COMPLETED, objective(job, desc)))
        except LaunchError as err:
            returns.append(job_return(job, JobStatus.FAILED, err))
    return returns
