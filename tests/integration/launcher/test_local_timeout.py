"""A docker-free job stopped by its max runtime reports a failure, never success.

SageMaker stops a job that exceeds ``StoppingCondition.MaxRuntimeInSeconds`` (SIGTERM,
then SIGKILL after a grace period) and reports it ``Stopped`` / ``MaxRuntimeExceeded``.
The docker-free runner must do the same whatever the stopped process returns: both jobs
here exit 0 on SIGTERM.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import boto3
from hydra_plugins.segtrain_sagemaker._local import LocalTrainingRun

from segtrain.data import storage
from tests.integration.launcher.conftest import BUCKET, REGION, ROLE

HERE = Path(__file__).resolve().parent

#: an entry point that ignores SIGTERM's meaning: it exits 0 at once
ENTRY = """\
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print("entry point started", flush=True)
time.sleep(120)
"""


def source_tarball() -> bytes:
    data = ENTRY.encode()
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        info = tarfile.TarInfo("sm_entry.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_a_job_past_its_max_runtime_is_stopped_even_if_it_exits_0(tmp_path, bucket):
    s3 = boto3.client("s3")
    code = f"s3://{bucket}/timeout/sourcedir.tar.gz"
    storage.put_bytes(code, source_tarball(), client=s3)
    request = {
        "TrainingJobName": "segtrain-timeout-0",
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": "local", "TrainingInputMode": "File"},
        "HyperParameters": {
            "sagemaker_program": json.dumps("sm_entry.py"),
            "sagemaker_submit_directory": json.dumps(code),
            "sagemaker_region": json.dumps(REGION),
        },
        "InputDataConfig": [],
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/timeout"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3},
    }
    run = LocalTrainingRun(request, tmp_path / "opt_ml", s3, grace_seconds=20)
    assert run.timeout == 3  # from the request's StoppingCondition
    result = run.run()
    assert "entry point started" in result.log
    assert result.status == "Stopped"
    desc = result.describe()
    assert desc["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert desc["FailureReason"].startswith("MaxRuntimeExceeded: the job ran past its ")
    assert "(3 s)" in desc["FailureReason"]
    assert result.model_artifacts is None  # nothing claims a finished model


def test_sagemaker_local_reports_a_timed_out_job_as_failed(tmp_path, bucket):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    out = subprocess.run(
        [
            sys.executable,
            str(HERE / "stubborn_app.py"),
            "-m",
            "hydra/launcher=sagemaker_local",
            f"hydra.launcher.role={ROLE}",
            f"hydra.launcher.bucket={BUCKET}",
            f"hydra.launcher.region={REGION}",
            "hydra.launcher.instance_type=ml.m5.xlarge",
            "hydra.launcher.image_uri=local",
            "hydra.launcher.max_run=4",
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert "stubborn job started" in out.stdout, out.stdout[-3000:] + out.stderr[-3000:]
    assert out.returncode != 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "stopped: MaxRuntimeExceeded" in out.stderr
    desc = json.loads((tmp_path / "sweep" / "0" / "sagemaker_job.json").read_text())
    assert desc["TrainingJobStatus"] == "Stopped"
    assert desc["SecondaryStatus"] == "MaxRuntimeExceeded"
