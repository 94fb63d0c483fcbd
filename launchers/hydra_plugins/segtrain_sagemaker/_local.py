"""Run a ``CreateTrainingJob`` request here, without Docker, the way the container would.

SageMaker's own local mode needs Docker. This runner instead materialises the
container's ``/opt/ml`` tree under a directory (``SAGEMAKER_BASE_DIR``, the training
toolkit's relocation variable) from the request itself: ``input/config/*.json`` from the
hyperparameters, channels and instance, each channel downloaded from S3, checkpoints
restored from the checkpoint URI (as on a spot restart). It then starts the
``sagemaker-training`` toolkit, the same program the AWS framework containers run, which
downloads ``sagemaker_submit_directory``, installs ``requirements.txt`` and runs the entry
point. Afterwards it does SageMaker's part: checkpoints, ``model.tar.gz`` and
``output.tar.gz`` go back to S3, metrics are parsed from the log with the request's own
regexes, and ``/opt/ml/output/failure`` becomes the ``FailureReason``. The request's
``StoppingCondition.MaxRuntimeInSeconds`` is enforced as SageMaker does: SIGTERM, a
grace period, SIGKILL; such a job is ``Stopped`` with ``MaxRuntimeExceeded`` whatever its
process returned, so a timed-out job never looks successful. :func:`run_local` is the
``hydra/launcher=sagemaker_local`` backend: one planned job in, its ``JobReturn`` out.

Limits: one instance (``InstanceCount`` 1), ``S3Prefix`` channels in File mode, and the
generic toolkit runs one process (the PyTorch container's framework module, which turns
``sagemaker_torch_distributed_enabled`` into torchrun, is not on PyPI for this stack).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus

import segtrain.data.storage as storage
from segtrain.errors import LaunchError
from segtrain.runtime.checkpoints import atomic_write_text

from ._bundle import RESULT_FILE, RETURN_PICKLE, tar_dir
from ._core_aws import LOG_GROUP, s3_errors
from ._jobs import JOB_INFO_FILE, Job, failed, job_return, objective, write_json
from ._remote import LOCAL_RUN_ENV

log = logging.getLogger("segtrain.sagemaker")

HOST = "algo-1"
GROUP = "homogeneousCluster"
#: SecondaryStatus (and FailureReason prefix) of a job stopped by its MaxRuntimeInSeconds
MAX_RUNTIME_EXCEEDED = "MaxRuntimeExceeded"
#: the toolkit's ``train`` command. The toolkit imports TensorFlow in its own process
#: only to recognise XLA errors in its failure report (8-10 s here, where TensorFlow is
#: installed; PyTorch containers do not have it), so that import is made to fail in
#: the toolkit process alone; the entry point's process is a fresh interpreter.
TOOLKIT_BOOT = (
    "import sys; sys.modules['tensorflow'] = None; "
    "from sagemaker_training.cli.train import main; main()"
)


@dataclass
class LocalRunResult:
    """What DescribeTrainingJob would say about the run, plus the captured log."""

    job_name: str
    status: str  # Completed | Failed | Stopped
    exit_code: int  # what the toolkit process returned (a stopped one may return 0)
    failure_reason: str | None
    log: str
    base_dir: Path
    final_metrics: dict[str, float] = field(default_factory=dict)
    metric_series: dict[str, list[float]] = field(default_factory=dict)
    model_artifacts: str | None = None
    output_artifacts: str | None = None
    output_path: str = ""
    secondary_status: str = ""  # MaxRuntimeExceeded, Interrupted, Completed, Failed

    def describe(self) -> dict[str, Any]:
        desc: dict[str, Any] = {
            "TrainingJobName": self.job_name,
            "TrainingJobStatus": self.status,
            "SecondaryStatus": self.secondary_status or self.status,
            "OutputDataConfig": {"S3OutputPath": self.output_path},
            "FinalMetricDataList": [
                {"MetricName": k, "Value": v} for k, v in self.final_metrics.items()
            ],
        }
        if self.model_artifacts:
            desc["ModelArtifacts"] = {"S3ModelArtifacts": self.model_artifacts}
        if self.failure_reason:
            desc["FailureReason"] = self.failure_reason
        return desc


def parse_metrics(log_text: str, definitions: list[Mapping[str, str]]) -> dict[str, list[float]]:
    """Apply each ``{"Name", "Regex"}`` to every log line, as SageMaker does."""
    compiled = [(d["Name"], re.compile(d["Regex"])) for d in definitions]
    series: dict[str, list[float]] = {}
    for line in log_text.splitlines():
        for name, rx in compiled:
            m = rx.search(line)
            if m:
                try:
                    series.setdefault(name, []).append(float(m.group(1)))
                except ValueError:
                    continue
    return series


class LocalTrainingRun:
    """One run of a captured request. ``run()``; or ``start()``, ``interrupt()``, ``wait()``.

    ``timeout``: seconds before the job is stopped as timed out; None takes the request's
    ``StoppingCondition.MaxRuntimeInSeconds``.
    """

    def __init__(
        self,
        request: Mapping[str, Any],
        base_dir: Path,
        s3: Any,
        *,
        logs: Any | None = None,
        timeout: float | None = None,
        printer: Callable[[str], None] | None = None,
        env: Mapping[str, str] | None = None,
        grace_seconds: float = 30.0,
        shared_filesystem: bool = False,
    ) -> None:
        self.request = request
        self.base = Path(base_dir).resolve()
        self.s3, self.logs = s3, logs
        self.name = str(request["TrainingJobName"])
        if timeout is None:
            timeout = request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
        self.timeout = timeout
        self.printer = printer or (lambda line: print(line, flush=True))
        self.extra_env = dict(env or {})
        self.grace = grace_seconds
        # sagemaker_local: the launcher and the job share this machine's filesystem, so
        # the job may keep the Hydra job directory the launcher planned
        self.shared_filesystem = shared_filesystem
        self.proc: subprocess.Popen[str] | None = None
        self.interrupted = False
        self.timed_out = False
        self._lines: list[str] = []
        self._reader: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        if int(request["ResourceConfig"].get("InstanceCount", 1)) != 1:
            raise LaunchError(
                f"the docker-free runner runs one instance; {self.name} asks for "
                f"{request['ResourceConfig']['InstanceCount']} (use instance_count=1 locally)"
            )

    # -- the /opt/ml tree ----------------------------------------------------------------

    @property
    def checkpoint_dir(self) -> Path:
        return self.base / "checkpoints"

    def prepare(self) -> None:
        if self.base.exists() and any(self.base.iterdir()):
            raise LaunchError(f"{self.base} is not empty; each local run needs a fresh base dir")
        for sub in ("input/config", "model", "output/data", "code", "checkpoints"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        hyper = self.request.get("HyperParameters", {})
        if any(k.endswith("_enabled") and json.loads(v) is True for k, v in hyper.items()):
            log.warning(
                "%s asks for a distributed launch (%s); the docker-free runner starts one "
                "process (the framework containers' launchers are not part of the toolkit)",
                self.name,
                ", ".join(k for k in hyper if k.endswith("_enabled")),
            )
        for name, content in self._config_files().items():
            atomic_write_text(self.base / "input" / "config" / name, json.dumps(content))
        with s3_errors():
            self._download_inputs()

    def _config_files(self) -> dict[str, Any]:
        """``/opt/ml/input/config/*.json`` as SageMaker writes them from the request."""
        instance = self.request["ResourceConfig"]["InstanceType"]
        channels = self.request.get("InputDataConfig", [])
        return {
            "hyperparameters.json": dict(self.request.get("HyperParameters", {})),
            "inputdataconfig.json": {
                c["ChannelName"]: {
                    "TrainingInputMode": c.get("InputMode", "File"),
                    "S3DistributionType": c["DataSource"]["S3DataSource"].get(
                        "S3DataDistributionType", "FullyReplicated"
                    ),
                    "RecordWrapperType": "None",
                }
                for c in channels
            },
            "resourceconfig.json": {
                "current_host": HOST,
                "current_instance_type": instance,
                "current_group_name": GROUP,
                "hosts": [HOST],
                "instance_groups": [
                    {"instance_group_name": GROUP, "instance_type": instance, "hosts": [HOST]}
                ],
                "network_interface_name": "lo",
            },
        }

    def _download_inputs(self) -> None:
        """Each channel into ``input/data/<name>``; checkpoints as on a spot restart."""
        for channel in self.request.get("InputDataConfig", []):
            source = channel["DataSource"].get("S3DataSource")
            if not source or source.get("S3DataType", "S3Prefix") != "S3Prefix":
                raise LaunchError(
                    f"channel {channel['ChannelName']!r}: the docker-free runner supports "
                    "S3Prefix channels only"
                )
            if channel.get("InputMode", "File") != "File":
                raise LaunchError(
                    f"channel {channel['ChannelName']!r}: only File mode runs locally"
                )
            dest = self.base / "input" / "data" / channel["ChannelName"]
            dest.mkdir(parents=True, exist_ok=True)
            got = storage.download(source["S3Uri"], dest, client=self.s3, allow_empty=True)
            log.info(
                "channel %s: %d file(s) from %s", channel["ChannelName"], got.sent, source["S3Uri"]
            )
        ckpt = self.request.get("CheckpointConfig")
        if ckpt:
            got = storage.download(
                ckpt["S3Uri"], self.checkpoint_dir, client=self.s3, allow_empty=True
            )
            if got.sent:
                log.info("restored %d checkpoint file(s) from %s", got.sent, ckpt["S3Uri"])

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({str(k): str(v) for k, v in self.request.get("Environment", {}).items()})
        region = json.loads(self.request["HyperParameters"].get("sagemaker_region", '""'))
        env.update(
            {
                "SAGEMAKER_BASE_DIR": str(self.base),
                "SM_STUDIO_LOCAL_MODE": "true",  # no DNS wait for algo-1
                "TRAINING_JOB_NAME": self.name,
                # CheckpointConfig.LocalPath (/opt/ml/checkpoints) under the relocated base
                "SEGTRAIN_CHECKPOINT_DIR": str(self.checkpoint_dir),
                # requirements.txt lists what this environment already has: never reach
                # an index for it
                "PIP_NO_INDEX": "1",
                "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                # a pickled task function may live in a module only this process can see
                "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
                "PYTHONUNBUFFERED": "1",
            }
        )
        if region:
            env.setdefault("AWS_REGION", region)
        if self.shared_filesystem:
            env[LOCAL_RUN_ENV] = "1"
        else:
            env.pop(LOCAL_RUN_ENV, None)
        env.update(self.extra_env)
        return env

    # -- the process ---------------------------------------------------------------------

    def start(self) -> None:
        self.prepare()
        self._started = time.time()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", TOOLKIT_BOOT],
            cwd=self.base,
            env=self.environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if self.timeout:
            self._timer = threading.Timer(self.timeout, self._stop_timed_out)
            self._timer.daemon = True
            self._timer.start()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with open(self.base / "job.log", "w") as out:
            for line in self.proc.stdout:
                line = line.rstrip("\n")
                self._lines.append(line)
                out.write(line + "\n")
                self.printer(line)

    def _stop_timed_out(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.timed_out = True
            log.warning(
                "%s exceeded its MaxRuntimeInSeconds (%g s): stopping it", self.name, self.timeout
            )
        self.interrupt()

    def interrupt(self) -> None:
        """What SageMaker does on a spot interruption or stop: SIGTERM, then SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.interrupted = True
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(self.grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def wait(self) -> LocalRunResult:
        assert self.proc is not None, "start() first"
        code = self.proc.wait()
        if self._timer is not None:
            self._timer.cancel()
        if self._reader is not None:
            self._reader.join()
        return self._finish(code)

    def run(self) -> LocalRunResult:
        self.start()
        return self.wait()

    # -- SageMaker's part after the container exits ---------------------------------------

    def _finish(self, code: int) -> LocalRunResult:
        status = "Stopped" if self.interrupted else ("Completed" if code == 0 else "Failed")
        text = "\n".join(self._lines)
        output_path = self.request["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        with s3_errors():
            model_uri, output_uri = self._upload_outputs(
                status, f"{output_path}/{self.name}/output"
            )
        series = parse_metrics(
            text, self.request["AlgorithmSpecification"].get("MetricDefinitions", [])
        )
        if self.logs is not None:
            self._publish_log()
        return LocalRunResult(
            job_name=self.name,
            status=status,
            exit_code=code,
            failure_reason=self._failure_reason(status, code),
            log=text,
            base_dir=self.base,
            final_metrics={k: v[-1] for k, v in series.items()},
            metric_series=series,
            model_artifacts=model_uri,
            output_artifacts=output_uri,
            output_path=output_path,
            secondary_status=(
                MAX_RUNTIME_EXCEEDED
                if self.timed_out
                else ("Interrupted" if status == "Stopped" else status)
            ),
        )

    def _upload_outputs(self, status: str, job_out: str) -> tuple[str | None, str]:
        """Checkpoints, model.tar.gz (completed jobs) and output.tar.gz back to S3."""
        kms = self.request["OutputDataConfig"].get("KmsKeyId")
        ckpt = self.request.get("CheckpointConfig")
        if ckpt and self.checkpoint_dir.is_dir():
            storage.upload(
                self.checkpoint_dir, ckpt["S3Uri"], client=self.s3, kms_key=kms, allow_empty=True
            )
        model_uri = None
        if status == "Completed":
            archive = tar_dir(self.base / "model", self.base / "upload" / "model.tar.gz")
            model_uri = f"{job_out}/model.tar.gz"
            storage.put_bytes(model_uri, archive.read_bytes(), client=self.s3, kms_key=kms)
        archive = tar_dir(self.base / "output" / "data", self.base / "upload" / "output.tar.gz")
        output_uri = f"{job_out}/output.tar.gz"
        storage.put_bytes(output_uri, archive.read_bytes(), client=self.s3, kms_key=kms)
        return model_uri, output_uri

    def _failure_reason(self, status: str, code: int) -> str | None:
        if status == "Completed":
            return None
        failure_file = self.base / "output" / "failure"
        reported = failure_file.read_text().strip() if failure_file.is_file() else ""
        if self.timed_out:
            reason = (
                f"{MAX_RUNTIME_EXCEEDED}: the job ran past its MaxRuntimeInSeconds "
                f"({self.timeout:g} s) and was stopped"
            )
            return (f"{reason}; the job reported: {reported}" if reported else reason)[:1024]
        if reported:
            return reported[:1024]
        if status == "Stopped":
            return "Training job was stopped (interrupted)"
        return f"AlgorithmError: the entry point exited with code {code}"

    def _publish_log(self) -> None:
        """Put the log into CloudWatch Logs where SageMaker writes it (one stream per host)."""
        stream = f"{self.name}/{HOST}-{int(self._started)}"
        try:
            self.logs.create_log_group(logGroupName=LOG_GROUP)
        except Exception as err:  # already exists
            if "ResourceAlreadyExists" not in str(err):
                raise
        self.logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
        now = int(time.time() * 1000)
        events = [{"timestamp": now, "message": line} for line in self._lines if line]
        for i in range(0, len(events), 5000):
            self.logs.put_log_events(
                logGroupName=LOG_GROUP, logStreamName=stream, logEvents=events[i : i + 5000]
            )


def run_local(job: Job, s3: Any, opts: dict[str, Any]) -> JobReturn:
    """``sagemaker_local``: run one planned job's request here; its JobReturn."""
    base = (
        Path(opts["base_dir"]) / job.name
        if opts.get("base_dir")
        else job.job_dir / "sagemaker" / job.name
    )
    run = LocalTrainingRun(
        job.request,
        base,
        s3,
        # null: the request's StoppingCondition (max_run)
        timeout=opts.get("timeout") or None,
        shared_filesystem=True,
    )
    log.info("running %s here (docker-free) under %s", job.name, base)
    result = run.run()
    desc = result.describe()
    write_json(job.job_dir / JOB_INFO_FILE, desc)
    if result.status != "Completed":
        return failed(job, desc)
    result_file = base / "output" / "data" / RESULT_FILE
    outcome = json.loads(result_file.read_text()) if result_file.is_file() else {}
    pickled = base / "output" / "data" / RETURN_PICKLE
    if pickled.is_file():  # written by this machine's own child process
        value = pickle.loads(pickled.read_bytes())
    elif outcome:
        value = outcome.get("return_value")
    else:
        value = objective(job, desc)
    ret = job_return(job, JobStatus.COMPLETED, value)
    if outcome.get("working_dir"):  # the filesystem is shared: where the task really ran
        ret.working_dir = outcome["working_dir"]
    return ret
