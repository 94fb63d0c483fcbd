"""The pure request builder: composed config + launcher options -> CreateTrainingJob.

Everything SageMaker would reject (or silently get wrong) is caught here with a
LaunchError that names the setting; the built request passes the strict check against
the SageMaker service model (``_validate``: patterns, lengths, enums, ranges).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from hydra_plugins.segtrain_sagemaker import _request
from hydra_plugins.segtrain_sagemaker._request import JobPlan, LaunchError
from omegaconf import OmegaConf

from segtrain.runtime import metric_log

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
WHEN = datetime(2026, 11, 22, 6, 30, 5, 123000)


def opts(**kw: Any) -> dict[str, Any]:
    base = {
        "role": ROLE,
        "bucket": "my-bucket",
        "prefix": "segtrain",
        "max_run": 3600,
        "spot": False,
        "max_wait": None,
        "volume_size_gb": 50,
    }
    base.update(kw)
    return base


def plan(name: str = "segtrain-train-20261122-063005-123-0", **kw: Any) -> JobPlan:
    locations = _request.plan_locations("my-bucket", "segtrain", name)
    fields = {
        "job_name": name,
        "region": "eu-central-1",
        "image_uri": "763104351884.dkr.ecr.eu-central-1.amazonaws.com/pytorch-training:2.10.0-gpu-py313",
        **locations,
    }
    fields.update(kw)
    return JobPlan(**fields)


@pytest.fixture
def train_cfg(compose_config):
    def make(*overrides: str) -> dict[str, Any]:
        cfg = compose_config("train", list(overrides))
        return OmegaConf.to_container(cfg, resolve=False)

    return make


# -- naming ------------------------------------------------------------------------------


def test_job_names_are_unique_per_job_and_within_sagemaker_rules():
    a = _request.job_name("segtrain", "train", WHEN, 0)
    b = _request.job_name("segtrain", "train", WHEN, 1)
    assert a == "segtrain-train-20261122-063005-123-0"
    assert a != b


def test_a_long_or_odd_prefix_is_shortened_and_cleaned():
    name = _request.job_name("My_Team/experiments " * 5, "train", WHEN, 12)
    assert len(name) <= 63
    assert _request.JOB_NAME_RE.match(name)
    assert name.endswith("-train-20261122-063005-123-12")


def test_an_invalid_job_name_is_refused():
    with pytest.raises(LaunchError, match="63"):
        _request.validate_job_name("x" * 64)
    with pytest.raises(LaunchError, match="a-zA-Z0-9-"):
        _request.validate_job_name("bad_name")


def test_each_job_gets_its_own_checkpoint_uri_under_its_name():
    a = _request.plan_locations("b", "p", "job-a")
    b = _request.plan_locations("b", "p", "job-b")
    assert a["checkpoint_uri"] == "s3://b/p/job-a/checkpoints/"
    assert a["checkpoint_uri"] != b["checkpoint_uri"]
    assert a["output_uri"] == b["output_uri"] == "s3://b/p"


# -- account settings --------------------------------------------------------------------


@pytest.mark.parametrize("role", [None, ""])
def test_a_missing_role_says_how_to_set_it(role):
    with pytest.raises(LaunchError, match=r"hydra\.launcher\.role"):
        _request.validate_role(role)


@pytest.mark.parametrize(
    "role", ["SageMakerExecution", "arn:aws:iam::123:role/x", "arn:aws:iam::123456789012:user/x"]
)
def test_a_malformed_role_arn_is_refused(role):
    with pytest.raises(LaunchError, match="not an IAM role ARN"):
        _request.validate_role(role)


@pytest.mark.parametrize(
    "bucket", ["s3://my-bucket", "My-Bucket", "ab", "my..bucket", "192.168.1.1", "-bucket"]
)
def test_an_invalid_bucket_name_is_refused(bucket):
    with pytest.raises(LaunchError, match="not a valid S3 bucket name"):
        _request.validate_bucket(bucket)


def test_a_valid_bucket_name_passes():
    assert _request.validate_bucket("my.bucket-1") == "my.bucket-1"


# -- compute -----------------------------------------------------------------------------


def test_instance_type_and_count_come_from_the_hardware_preset(train_cfg):
    cfg = train_cfg("hardware=ml_p4d_24xlarge", "hardware.nodes=2")
    assert _request.resolve_compute(cfg, opts(), "us-east-1") == ("ml.p4d.24xlarge", 2)


def test_launcher_options_override_the_preset(train_cfg):
    cfg = train_cfg("hardware=ml_p4d_24xlarge", "hardware.nodes=3")
    compute = _request.resolve_compute(
        cfg, opts(instance_type="ml.p4de.24xlarge", instance_count=3), "us-east-1"
    )
    assert compute == ("ml.p4de.24xlarge", 3)


def test_an_instance_count_other_than_the_nodes_is_refused_before_submitting(train_cfg):
    # the job would start 3 instances and then fail: each engine checks its cluster size
    cfg = train_cfg("hardware=ml_p4d_24xlarge", "trainer=data_parallel")
    with pytest.raises(LaunchError, match=r"instance_count=3 but hardware\.nodes=1.*nodes=3"):
        _request.resolve_compute(cfg, opts(instance_count=3), "us-east-1")


def test_local_hardware_without_instance_type_is_refused(train_cfg):
    with pytest.raises(LaunchError, match="hardware=ml_"):
        _request.resolve_compute(train_cfg("hardware=cpu"), opts(), "us-east-1")


def test_an_unknown_instance_type_is_refused_with_its_family(train_cfg):
    with pytest.raises(LaunchError, match=r"ml\.p4d\.48xlarge.*ml\.p4d\.24xlarge"):
        _request.resolve_compute(train_cfg(), opts(instance_type="ml.p4d.48xlarge"), "us-east-1")


def test_gpu_hardware_on_a_cpu_instance_is_refused(train_cfg):
    cfg = train_cfg("hardware=ml_g5_xlarge")
    with pytest.raises(LaunchError, match="has no GPU"):
        _request.resolve_compute(cfg, opts(instance_type="ml.m5.xlarge"), "us-east-1")


def test_more_devices_than_the_instance_has_gpus_is_refused(train_cfg):
    cfg = train_cfg("hardware=ml_p4d_24xlarge", "hardware.devices=16")
    with pytest.raises(LaunchError, match="has 8 GPU"):
        _request.resolve_compute(cfg, opts(), "us-east-1")


def test_every_ml_preset_matches_its_instance(train_cfg):
    from pathlib import Path

    presets = sorted(
        p.stem
        for p in (Path(__file__).resolve().parents[3] / "configs" / "hardware").glob("ml_*.yaml")
    )
    assert len(presets) >= 5
    for preset in presets:
        cfg = train_cfg(f"hardware={preset}")
        instance, count = _request.resolve_compute(cfg, opts(), "us-east-1")
        assert instance == "ml." + preset[3:].replace("_", ".")
        assert count == 1


# -- distribution ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("framework", "parallelism", "count", "expected"),
    [
        ("torch", "single", 1, {}),
        ("torch", "data_parallel", 1, {"sagemaker_torch_distributed_enabled": True}),
        ("torch", "data_parallel", 4, {"sagemaker_torch_distributed_enabled": True}),
        ("torch", "model_parallel", 2, {"sagemaker_torch_distributed_enabled": True}),
        ("keras", "data_parallel", 1, {}),
        ("keras", "data_parallel", 2, {"sagemaker_multi_worker_mirrored_strategy_enabled": True}),
        ("keras", "model_parallel", 1, {}),
    ],
)
def test_distribution_follows_framework_and_trainer(framework, parallelism, count, expected):
    assert _request.distribution_hyperparameters(framework, parallelism, count) == expected


def test_a_single_process_trainer_on_several_instances_is_refused():
    with pytest.raises(LaunchError, match="trainer=data_parallel"):
        _request.distribution_hyperparameters("torch", "single", 2)


def test_keras_model_parallel_across_instances_is_refused():
    with pytest.raises(LaunchError, match="one instance"):
        _request.distribution_hyperparameters("keras", "model_parallel", 2)


# -- stopping condition and metrics ------------------------------------------------------


def test_spot_needs_max_wait_at_least_max_run():
    with pytest.raises(LaunchError, match="max_wait >= max_run"):
        _request.validate_stopping(7200, True, 3600)


def test_spot_without_max_wait_waits_as_long_as_it_runs():
    cond = _request.validate_stopping(7200, True, None)
    assert cond == {"MaxRuntimeInSeconds": 7200, "MaxWaitTimeInSeconds": 7200}


def test_max_wait_without_spot_is_refused():
    with pytest.raises(LaunchError, match="spot=true"):
        _request.validate_stopping(3600, False, 7200)


def test_max_run_beyond_sagemakers_cap_is_refused():
    with pytest.raises(LaunchError, match="max_run"):
        _request.validate_stopping(30 * 24 * 3600, False, None)


def test_a_too_long_metric_regex_is_refused():
    defs = [{"Name": "x", "Regex": "a" * 501}]
    with pytest.raises(LaunchError, match="500"):
        _request.validate_metric_definitions(defs)


def test_too_many_metric_definitions_are_refused():
    defs = [{"Name": f"m{i}", "Regex": f"m{i}=(\\d+)"} for i in range(41)]
    with pytest.raises(LaunchError, match="40"):
        _request.validate_metric_definitions(defs)


def test_metric_definitions_are_metric_logs_plus_a_custom_objective():
    assert _request.metric_definitions("val_mIoU") == metric_log.metric_definitions()
    defs = _request.metric_definitions("val_dice")
    assert defs[-1]["Name"] == "val_dice"
    assert len(defs) == len(metric_log.STANDARD_METRICS) + 1


# -- the whole request -------------------------------------------------------------------


def test_the_request_ships_config_as_a_channel_not_as_hyperparameters(train_cfg):
    cfg = train_cfg("hardware=ml_g5_xlarge", "model.lr=0.01")
    req = _request.build_request(cfg, opts(), plan())
    hyper = {k: json.loads(v) for k, v in req["HyperParameters"].items()}
    assert hyper == {
        "sagemaker_program": "sm_entry.py",
        "sagemaker_submit_directory": plan().code_uri,
        "sagemaker_region": "eu-central-1",
        "sagemaker_container_log_level": 30,  # WARNING: the toolkit dumps its env at INFO
        "sagemaker_job_name": plan().job_name,
    }
    [channel] = req["InputDataConfig"]
    assert channel["ChannelName"] == "config"
    assert channel["DataSource"]["S3DataSource"]["S3Uri"] == plan().config_uri
    assert req["AlgorithmSpecification"]["MetricDefinitions"] == metric_log.metric_definitions()
    assert req["ResourceConfig"] == {
        "InstanceType": "ml.g5.xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 50,
    }
    assert req["CheckpointConfig"] == {
        "S3Uri": plan().checkpoint_uri,
        "LocalPath": "/opt/ml/checkpoints",
    }
    assert req["OutputDataConfig"] == {"S3OutputPath": "s3://my-bucket/segtrain"}
    assert req["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    assert req["EnableManagedSpotTraining"] is False
    assert {"Key": "segtrain:model", "Value": "deeplabv3"} in req["Tags"]


def test_an_s3_dataset_becomes_the_train_channel(train_cfg):
    cfg = train_cfg("hardware=ml_g5_xlarge")
    req = _request.build_request(cfg, opts(), plan(data_uri="s3://data-bucket/a2d2/"))
    channels = {c["ChannelName"]: c for c in req["InputDataConfig"]}
    assert channels["train"]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://data-bucket/a2d2/"


def test_extra_channels_may_not_shadow_the_launchers_own(train_cfg):
    cfg = train_cfg("hardware=ml_g5_xlarge")
    with pytest.raises(LaunchError, match="clashes"):
        _request.build_request(cfg, opts(), plan(extra_channels={"config": "s3://b/x/"}))
    with pytest.raises(LaunchError, match="not an s3://"):
        _request.build_request(cfg, opts(), plan(extra_channels={"weights": "/local/dir"}))


def test_spot_vpc_kms_tags_and_environment_reach_the_request(train_cfg):
    cfg = train_cfg("hardware=ml_p4d_24xlarge", "trainer=data_parallel")
    req = _request.build_request(
        cfg,
        opts(
            spot=True,
            max_wait=7200,
            subnets=["subnet-1"],
            security_group_ids=["sg-1"],
            kms_key="arn:aws:kms:eu-central-1:123456789012:key/abc",
            tags={"team": "perception"},
            environment={"NCCL_DEBUG": "INFO"},
        ),
        plan(),
    )
    assert req["EnableManagedSpotTraining"] is True
    assert req["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert req["VpcConfig"] == {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}
    assert req["OutputDataConfig"]["KmsKeyId"].endswith("key/abc")
    assert req["ResourceConfig"]["VolumeKmsKeyId"].endswith("key/abc")
    assert {"Key": "team", "Value": "perception"} in req["Tags"]
    assert req["Environment"]["NCCL_DEBUG"] == "INFO"
    assert json.loads(req["HyperParameters"]["sagemaker_torch_distributed_enabled"]) is True


def test_a_vpc_needs_subnets_and_security_groups(train_cfg):
    with pytest.raises(LaunchError, match="both"):
        _request.build_request(
            train_cfg("hardware=ml_g5_xlarge"), opts(subnets=["subnet-1"]), plan()
        )


def test_an_invalid_tag_is_refused(train_cfg):
    with pytest.raises(LaunchError, match="tag"):
        _request.build_request(
            train_cfg("hardware=ml_g5_xlarge"), opts(tags={"bad": "semi;colon"}), plan()
        )


def test_the_request_is_checked_against_the_service_model():
    from hydra_plugins.segtrain_sagemaker import _validate

    with pytest.raises(LaunchError, match=r"^CreateTrainingJob\.RoleArn is required"):
        _validate.validate_request("CreateTrainingJob", {"TrainingJobName": "x"})
