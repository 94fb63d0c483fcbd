"""Inside the container (RunContext on SageMaker paths), metric parsing, waiting on a job."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hydra_plugins.segtrain_sagemaker import _core_aws, _jobs, _remote
from hydra_plugins.segtrain_sagemaker._local import LocalTrainingRun, parse_metrics
from omegaconf import OmegaConf

from segtrain.errors import ConfigError, LaunchError
from segtrain.runtime import metric_log
from segtrain.runtime.env import RunContext


def sagemaker_env(base: Path) -> dict[str, str]:
    return {
        "SAGEMAKER_BASE_DIR": str(base),
        "SM_CURRENT_HOST": "algo-1",
        "SM_HOSTS": '["algo-1"]',
        "SM_OUTPUT_DATA_DIR": str(base / "output" / "data"),
        "SM_OUTPUT_DIR": str(base / "output"),
        "SM_MODEL_DIR": str(base / "model"),
        "SM_CHANNEL_TRAIN": str(base / "input" / "data" / "train"),
        "SM_CHANNEL_CONFIG": str(base / "input" / "data" / "config"),
    }


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    """A composed config as the launcher ships it (hydra node included)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from segtrain._configs import config_dir
    from segtrain.config import register_configs

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose("train", return_hydra_config=True, overrides=["hydra.sweep.dir=/local/x"])
    GlobalHydra.instance().clear()
    path = tmp_path / "config.yaml"
    path.write_text(OmegaConf.to_yaml(cfg))
    return path


def test_in_the_container_hydra_writes_to_the_output_data_and_data_comes_from_the_channel(
    shipped, tmp_path
):
    ctx = RunContext.detect(env=sagemaker_env(tmp_path))
    cfg = _remote.prepare_config(_remote.load_config(shipped), ctx, local_run=False)
    assert cfg.hydra.sweep.dir == str(tmp_path / "output" / "data")
    assert cfg.dataset.root == str(tmp_path / "input" / "data" / "train")
    from hydra.core.hydra_config import HydraConfig

    HydraConfig.instance().set_config(cfg)  # the typed hydra node Hydra insists on


def test_a_local_run_keeps_the_planned_hydra_dir(shipped, tmp_path):
    ctx = RunContext.detect(env=sagemaker_env(tmp_path))
    cfg = _remote.prepare_config(_remote.load_config(shipped), ctx, local_run=True)
    assert cfg.hydra.sweep.dir == "/local/x"


def test_failure_messages_are_one_paragraph():
    assert _remote.failure_message(ConfigError("model.lr=abc\n  is not a float")) == (
        "model.lr=abc is not a float"
    )
    assert _remote.failure_message(ValueError("boom")) == "ValueError: boom"


def test_sagemaker_metric_regexes_parse_the_printed_lines():
    lines = "\n".join(
        [
            "some log line",
            metric_log.format_metric_line({"train_loss": 0.5, "val_mIoU": 0.25}, epoch=1),
            metric_log.format_metric_line({"train_loss": 0.4, "val_mIoU": float("nan")}, epoch=2),
        ]
    )
    series = parse_metrics(lines, metric_log.metric_definitions())
    assert series["epoch"] == [1.0, 2.0]
    assert series["train_loss"] == [0.5, 0.4]
    assert series["val_mIoU"][0] == 0.25 and series["val_mIoU"][1] != series["val_mIoU"][1]


def test_the_docker_free_runner_runs_one_instance(tmp_path):
    request = {"TrainingJobName": "j", "ResourceConfig": {"InstanceCount": 2}}
    with pytest.raises(LaunchError, match="one instance"):
        LocalTrainingRun(request, tmp_path, s3=None)


def stub_client():
    import boto3
    from botocore.stub import Stubber

    sm = boto3.client(
        "sagemaker",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        endpoint_url="http://127.0.0.1:9",
    )
    return sm, Stubber(sm)


def describe_response(status: str, **extra) -> dict:
    return {
        "TrainingJobName": "job",
        "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/job",
        "TrainingJobStatus": status,
        "SecondaryStatus": status if status != "InProgress" else "Training",
        "AlgorithmSpecification": {"TrainingInputMode": "File"},
        "ModelArtifacts": {"S3ModelArtifacts": "s3://b/p/job/output/model.tar.gz"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
        "CreationTime": dt.datetime(2026, 1, 1),
        **extra,
    }


def test_waiting_polls_until_a_terminal_status_and_keeps_the_failure_reason():
    sm, stub = stub_client()
    stub.add_response(
        "describe_training_job", describe_response("InProgress"), {"TrainingJobName": "job"}
    )
    stub.add_response(
        "describe_training_job",
        describe_response("Failed", FailureReason="model.backbone='x' is not supported"),
        {"TrainingJobName": "job"},
    )
    sleeps: list[float] = []
    with stub:
        desc = _core_aws.wait(sm, "job", 7.0, logs=None, sleep=sleeps.append)
    assert desc["TrainingJobStatus"] == "Failed"
    assert desc["FailureReason"].startswith("model.backbone")
    assert sleeps == [7.0]


def test_final_metrics_and_artifact_locations_come_from_the_description():
    desc = describe_response(
        "Completed",
        FinalMetricDataList=[{"MetricName": "val_mIoU", "Value": 0.5}],
        OutputDataConfig={"S3OutputPath": "s3://b/p"},
    )
    assert _jobs.final_metrics(desc) == {"val_mIoU": 0.5}
    assert _core_aws.output_archive_uri(desc) == "s3://b/p/job/output/output.tar.gz"
    assert _core_aws.model_archive_uri(desc) == "s3://b/p/job/output/model.tar.gz"


def test_a_refused_submission_is_a_launch_error_naming_the_job():
    sm, stub = stub_client()
    stub.add_client_error(
        "create_training_job",
        service_error_code="ResourceLimitExceeded",
        service_message="The account-level service limit 'ml.p4d.24xlarge for spot' is 0",
    )
    with (
        stub,
        pytest.raises(LaunchError, match="CreateTrainingJob job-1 failed: ResourceLimitExceeded"),
    ):
        _core_aws.create_training_job(
            sm,
            {
                "TrainingJobName": "job-1",
                "RoleArn": "arn:aws:iam::123456789012:role/x",
                "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
                "OutputDataConfig": {"S3OutputPath": "s3://b/p"},
                "ResourceConfig": {
                    "InstanceType": "ml.m5.xlarge",
                    "InstanceCount": 1,
                    "VolumeSizeInGB": 1,
                },
                "StoppingCondition": {"MaxRuntimeInSeconds": 60},
            },
        )
