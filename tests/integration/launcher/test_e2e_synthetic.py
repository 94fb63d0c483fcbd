"""End to end on tiny synthetic scenes, offline: submit -> docker-free run -> S3 artifacts.

``segtrain train -m hydra/launcher=sagemaker`` submits to moto (SageMaker stand-in) and the
exact CreateTrainingJob request is captured on the wire. That request is then run here by
the docker-free runner: ``/opt/ml`` materialised from it, channels and checkpoints pulled
from moto S3, the ``sagemaker-training`` toolkit starting the shipped entry point, which
trains the real DeepLabV3 through Lightning. A spot-style interruption resumes from the
checkpoint URI, and a failing job reports its FailureReason.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from hydra_plugins.segtrain_sagemaker import _validate
from hydra_plugins.segtrain_sagemaker._local import LocalTrainingRun

from segtrain.data.storage import split_s3_uri
from segtrain.runtime.metric_log import STANDARD_METRICS

pytest.importorskip("lightning")

TINY = [
    "trainer.max_epochs=2",
    "dataset.num_samples=8",
    "dataset.image_size=[64,96]",
    "trainer.batch_size=4",
    "dataset.synth.num_sequences=3",
    "dataset.synth.frames_per_sequence=4",
    "dataset.synth.height=64",
    "dataset.synth.width=96",
    "dataset.num_workers=0",
    "logger=none",
    "hardware=ml_m5_xlarge",
]


def submit(tmp_path: Path, overrides: list[str], captured: list[dict[str, Any]]) -> dict[str, Any]:
    """``segtrain train -m ... hydra/launcher=sagemaker hydra.launcher.wait=false``."""
    from tests.integration.launcher.conftest import run_segtrain_in_process

    before = len(captured)
    run_segtrain_in_process(
        [
            "train",
            "-m",
            "hydra/launcher=sagemaker",
            "hydra.launcher.wait=false",
            f"hydra.sweep.dir={tmp_path / 'multirun'}",
            *overrides,
        ]
    )
    assert len(captured) == before + 1
    return captured[-1]


def s3_object(uri: str) -> bytes:
    bucket, key = split_s3_uri(uri)
    return boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def tar_names(data: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return set(tar.getnames())


@pytest.fixture(scope="module")
def submitted(tmp_path_factory, launcher_moto, bucket) -> tuple[dict[str, Any], Path]:
    """One job submitted through the CLI; its CreateTrainingJob request as sent."""
    from hydra_plugins.segtrain_sagemaker import _core_aws

    from tests.integration.launcher.conftest import REGION, ROLE

    tmp = tmp_path_factory.mktemp("e2e")
    captured: list[dict[str, Any]] = []
    real = _core_aws.boto_session

    def session_with_hook(region):
        session = real(region)
        session.events.register(
            "before-call.sagemaker.CreateTrainingJob",
            lambda params, **_: captured.append(json.loads(params["body"])),
        )
        return session

    mp = pytest.MonkeyPatch()
    mp.setattr(_core_aws, "boto_session", session_with_hook)
    try:
        account = [
            f"hydra.launcher.role={ROLE}",
            f"hydra.launcher.bucket={bucket}",
            f"hydra.launcher.region={REGION}",
        ]
        request = submit(tmp, [*account, *TINY], captured)
    finally:
        mp.undo()
    return request, tmp


@pytest.fixture(scope="module")
def trained(submitted) -> tuple[dict[str, Any], Any, Path]:
    """The submitted request run here, as the training container would run it (~70 s)."""
    request, tmp = submitted
    logs = boto3.client("logs")
    result = LocalTrainingRun(request, tmp / "opt_ml", boto3.client("s3"), logs=logs).run()
    return request, result, tmp


def test_the_request_on_the_wire_is_what_the_launcher_recorded(submitted):
    request, tmp = submitted
    recorded = json.loads(next((tmp / "multirun").rglob("sagemaker_request.json")).read_text())
    assert request == recorded
    # what botocore put on the wire passes the strict service-model check too
    assert _validate.first_violation("CreateTrainingJob", request) is None
    assert request["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"
    assert "cpu" in request["AlgorithmSpecification"]["TrainingImage"]
    assert [d["Name"] for d in request["AlgorithmSpecification"]["MetricDefinitions"]] == list(
        STANDARD_METRICS
    )
    sm = boto3.client("sagemaker")
    assert sm.describe_training_job(TrainingJobName=request["TrainingJobName"])


def test_the_local_run_trains_and_uploads_model_tar_gz(trained):
    request, result, _ = trained
    assert result.status == "Completed", result.log[-3000:]
    expected = f"{request['OutputDataConfig']['S3OutputPath']}/{request['TrainingJobName']}/output/model.tar.gz"
    assert result.model_artifacts == expected
    assert {"model.pt", "config.yaml", "classes.json"} <= tar_names(s3_object(expected))
    outputs = tar_names(s3_object(result.output_artifacts))
    assert {"results.json", "segtrain_job.json", ".hydra/config.yaml"} <= outputs


def test_metrics_are_parsed_by_the_submitted_regexes(trained):
    _, result, _ = trained
    assert result.metric_series["epoch"] == [1.0, 2.0]
    assert 0.0 <= result.final_metrics["val_mIoU"] <= 1.0
    assert {"train_loss", "val_loss", "val_pixel_acc", "lr", "throughput"} <= set(
        result.final_metrics
    )


def test_checkpoints_are_synced_to_the_per_job_checkpoint_uri(trained):
    request, _, _ = trained
    uri = request["CheckpointConfig"]["S3Uri"]
    assert request["TrainingJobName"] in uri
    bucket, prefix = split_s3_uri(uri)
    keys = [
        o["Key"]
        for o in boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    ]
    assert any(k.endswith("last.ckpt") for k in keys)


def test_the_launcher_log_tail_reads_the_job_log_back_from_cloudwatch(trained):
    from hydra_plugins.segtrain_sagemaker._core_aws import LogTail

    request, _, _ = trained
    lines: list[str] = []
    LogTail(boto3.client("logs"), request["TrainingJobName"], lines.append).poll()
    assert any(line.startswith("[metrics] epoch=2") for line in lines)


def test_spot_interruption_resumes_from_the_checkpoint_uri(submitted, tmp_path):
    request, _ = submitted
    request = json.loads(json.dumps(request))
    # a fresh checkpoint URI, so the first run starts from scratch
    request["CheckpointConfig"]["S3Uri"] = (
        request["CheckpointConfig"]["S3Uri"].rstrip("/") + "-spot/"
    )
    s3 = boto3.client("s3")
    first = LocalTrainingRun(request, tmp_path / "first", s3)
    first.start()
    deadline = time.time() + 600
    while not list(first.checkpoint_dir.glob("*.ckpt")) and time.time() < deadline:
        time.sleep(0.5)
    first.interrupt()  # the spot instance goes away
    stopped = first.wait()
    assert stopped.status == "Stopped"
    assert 2.0 not in stopped.metric_series.get("epoch", [])

    resumed = LocalTrainingRun(request, tmp_path / "second", s3).run()
    assert resumed.status == "Completed", resumed.log[-3000:]
    assert "Resuming from" in resumed.log
    # only the epochs after the checkpoint ran again
    assert resumed.metric_series["epoch"][-1] == 2.0
    assert 1.0 not in resumed.metric_series["epoch"]


def test_a_failing_job_reports_its_failure_reason(submitted, tmp_path):
    request, _ = submitted
    request = json.loads(json.dumps(request))
    request["TrainingJobName"] = request["TrainingJobName"][:50] + "-fail"
    # its own checkpoints: the trained job's belong to another model (refused as such)
    request["CheckpointConfig"]["S3Uri"] = (
        request["CheckpointConfig"]["S3Uri"].rstrip("/") + "-fail/"
    )
    bucket, key = split_s3_uri(
        next(c for c in request["InputDataConfig"] if c["ChannelName"] == "config")["DataSource"][
            "S3DataSource"
        ]["S3Uri"]
    )
    s3 = boto3.client("s3")
    config = s3.get_object(Bucket=bucket, Key=key + "config.yaml")["Body"].read().decode()
    bad_key = key.rstrip("/") + "-fail/"
    s3.put_object(
        Bucket=bucket,
        Key=bad_key + "config.yaml",
        Body=config.replace("backbone: mobilenet_v3_large", "backbone: resnet9000"),
    )
    job = s3.get_object(Bucket=bucket, Key=key + "job.json")["Body"].read()
    s3.put_object(Bucket=bucket, Key=bad_key + "job.json", Body=job)
    for channel in request["InputDataConfig"]:
        if channel["ChannelName"] == "config":
            channel["DataSource"]["S3DataSource"]["S3Uri"] = f"s3://{bucket}/{bad_key}"
    result = LocalTrainingRun(request, tmp_path / "opt_ml", s3).run()
    assert result.status == "Failed"
    assert result.failure_reason.startswith("model.backbone='resnet9000' is not supported")
    assert result.describe()["FailureReason"] == result.failure_reason


def test_sagemaker_local_runs_segtrain_train_like_the_container(tmp_path, launcher_moto, bucket):
    from tests.integration.launcher.conftest import REGION, run_segtrain_in_process

    run_segtrain_in_process(
        [
            "train",
            "-m",
            "hydra/launcher=sagemaker_local",
            f"hydra.launcher.bucket={bucket}",
            f"hydra.launcher.region={REGION}",
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
            *TINY,
        ]
    )
    job_dir = tmp_path / "sweep" / "0"
    desc = json.loads((job_dir / "sagemaker_job.json").read_text())
    assert desc["TrainingJobStatus"] == "Completed"
    assert (
        0.0 <= {m["MetricName"]: m["Value"] for m in desc["FinalMetricDataList"]}["val_mIoU"] <= 1
    )
    # Hydra's files stay where the launcher planned them (shared filesystem) ...
    assert (job_dir / ".hydra" / "config.yaml").is_file()
    # ... and the container's tree is beside them, model and results included
    [base] = (job_dir / "sagemaker").iterdir()
    assert (base / "model" / "model.pt").is_file()
    assert (
        json.loads((base / "output" / "data" / "results.json").read_text())["epochs_completed"] == 2
    )
    assert s3_object(desc["ModelArtifacts"]["S3ModelArtifacts"])
