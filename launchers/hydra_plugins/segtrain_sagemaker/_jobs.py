"""One Hydra job as a training job: its record, and its result as Hydra's ``JobReturn``.

Shared by the planning side (:mod:`._core`) and both backends (:mod:`._core_aws` waits for
SageMaker, :mod:`._local` runs the request here), which all speak about the same
:class:`Job` and turn a ``DescribeTrainingJob``-shaped description into the same
``JobReturn``: the objective for a completed job, the ``FailureReason`` as a
:class:`~segtrain.errors.LaunchError` for one that failed or was stopped.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobRuntime, JobStatus
from omegaconf import DictConfig, OmegaConf, open_dict

from segtrain.errors import LaunchError
from segtrain.runtime.checkpoints import atomic_write_text

from ._bundle import RESULT_FILE
from ._request import JobPlan

#: beside each Hydra job dir: the request as sent, and the job's name/ARN or description
REQUEST_FILE = "sagemaker_request.json"
JOB_INFO_FILE = "sagemaker_job.json"


@dataclass
class Job:
    num: int
    overrides: list[str]
    config: DictConfig  # composed, with the hydra node
    job_dir: Path
    plan: JobPlan | None = None
    request: dict[str, Any] = field(default_factory=dict)
    task_target: str | None = None
    data_source: Path | None = None  # local dataset root to upload as the train channel
    arn: str | None = None

    @property
    def name(self) -> str:
        return str(self.request["TrainingJobName"])


@dataclass
class SubmittedJob:
    """Return value of a job launched with ``wait=false``."""

    job_name: str
    arn: str | None
    console_url: str
    request_file: str


def job_return(job: Job, status: JobStatus, value: Any) -> JobReturn:
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


def failed(job: Job, desc: Mapping[str, Any]) -> JobReturn:
    reason = desc.get("FailureReason") or "no FailureReason given"
    err = LaunchError(
        f"training job {desc['TrainingJobName']} {desc['TrainingJobStatus'].lower()}: {reason}"
    )
    return job_return(job, JobStatus.FAILED, err)


def objective(job: Job, desc: Mapping[str, Any]) -> Any:
    """A completed job's return value: its ``segtrain_job.json``, else its final metric."""
    result_file = job.job_dir / RESULT_FILE
    if result_file.is_file():
        result = json.loads(result_file.read_text())
        if result.get("status") != "COMPLETED":
            raise LaunchError(
                f"training job {desc['TrainingJobName']} reported: {result.get('error')}"
            )
        return result.get("return_value")
    key = str(OmegaConf.select(job.config, "optimized_metric", default="val_mIoU"))
    metrics = final_metrics(desc)
    if key in metrics:
        return metrics[key]
    raise LaunchError(
        f"training job {desc['TrainingJobName']} completed but reported no {key} "
        f"(final metrics: {sorted(metrics)}; no {RESULT_FILE} in its output)"
    )


def final_metrics(desc: Mapping[str, Any]) -> dict[str, float]:
    return {m["MetricName"]: float(m["Value"]) for m in desc.get("FinalMetricDataList", [])}


def write_json(path: Path, content: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(content, indent=2, default=str))
