"""The strict request check against botocore's service model (patterns, lengths, enums,
ranges, keys of maps), for CreateTrainingJob and CreateHyperParameterTuningJob.

botocore's ParamValidator lets the first four cases below through; SageMaker refuses them.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from hydra_plugins.segtrain_sagemaker import _request, _validate
from omegaconf import OmegaConf

from segtrain.errors import LaunchError

from .test_request import opts, plan

KMS = "arn:aws:kms:eu-central-1:123456789012:key/abc"


@pytest.fixture
def gpu_cfg(compose_config) -> dict[str, Any]:
    return OmegaConf.to_container(compose_config("train", ["hardware=ml_g5_xlarge"]))


def refused(gpu_cfg: dict[str, Any], **launcher: Any) -> str:
    with pytest.raises(LaunchError) as info:
        _request.build_request(gpu_cfg, opts(**launcher), plan())
    message = str(info.value)
    assert "\n" not in message
    return message


# -- what ParamValidator misses ----------------------------------------------------------


def test_an_environment_key_sagemaker_refuses_is_refused(gpu_cfg):
    assert refused(gpu_cfg, environment={"MY-VAR": "1"}) == (
        "CreateTrainingJob.Environment key 'MY-VAR' does not match [a-zA-Z_][a-zA-Z0-9_]* "
        "(set by hydra.launcher.environment)"
    )


def test_a_subnet_id_with_an_underscore_is_refused(gpu_cfg):
    message = refused(gpu_cfg, subnets=["subnet_1"], security_group_ids=["sg-1"])
    assert message == (
        "CreateTrainingJob.VpcConfig.Subnets[0] 'subnet_1' does not match [-0-9a-zA-Z]+ "
        "(set by hydra.launcher.subnets)"
    )


def test_a_security_group_id_over_32_characters_is_refused(gpu_cfg):
    group = "sg-" + "0" * 30
    message = refused(gpu_cfg, subnets=["subnet-1"], security_group_ids=["sg-1", group])
    assert message == (
        f"CreateTrainingJob.VpcConfig.SecurityGroupIds[1] {group!r} is 33 characters long; "
        "at most 32 allowed (set by hydra.launcher.security_group_ids)"
    )


def test_a_kms_key_with_spaces_is_refused(gpu_cfg):
    message = refused(gpu_cfg, kms_key="my key")
    assert message == (
        "CreateTrainingJob.OutputDataConfig.KmsKeyId 'my key' does not match "
        "[a-zA-Z0-9:/_-]* (set by hydra.launcher.kms_key)"
    )


def test_botocores_own_validator_lets_these_through(gpu_cfg):
    """Why the strict check exists: the same requests pass ParamValidator."""
    import botocore.session
    from botocore.validate import ParamValidator

    good = _request.build_request(gpu_cfg, opts(kms_key=KMS), plan())
    shape = (
        botocore.session.get_session()
        .get_service_model("sagemaker")
        .operation_model("CreateTrainingJob")
        .input_shape
    )
    bad = copy.deepcopy(good)
    bad["Environment"]["MY-VAR"] = "1"
    bad["VpcConfig"] = {"Subnets": ["subnet_1"], "SecurityGroupIds": ["sg-" + "0" * 30]}
    bad["OutputDataConfig"]["KmsKeyId"] = "my key"
    assert not ParamValidator().validate(bad, shape).has_errors()
    assert _validate.first_violation("CreateTrainingJob", bad) is not None
    assert _validate.first_violation("CreateTrainingJob", good) is None


# -- every rule of the model -------------------------------------------------------------


@pytest.fixture
def good(gpu_cfg) -> dict[str, Any]:
    return _request.build_request(
        gpu_cfg,
        opts(
            subnets=["subnet-1"],
            security_group_ids=["sg-1"],
            kms_key=KMS,
            tags={"team": "perception"},
            environment={"NCCL_DEBUG": "INFO"},
        ),
        plan(),
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda r: r.pop("RoleArn"),
            r"^CreateTrainingJob\.RoleArn is required \(set by hydra\.launcher\.role\)$",
        ),
        (
            lambda r: r.update(Colour="red"),
            r"^CreateTrainingJob\.Colour is not a member of CreateTrainingJobRequest "
            r"\(expected one of: .*RoleArn.*\)$",
        ),
        (
            lambda r: r["ResourceConfig"].update(InstanceCount="1"),
            r"^CreateTrainingJob\.ResourceConfig\.InstanceCount is str '1', expected integer",
        ),
        (
            lambda r: r["ResourceConfig"].update(InstanceCount=True),
            r"InstanceCount is bool True, expected integer",
        ),
        (
            lambda r: r["ResourceConfig"].update(InstanceCount=-1),
            r"^CreateTrainingJob\.ResourceConfig\.InstanceCount -1 is below the minimum 0",
        ),
        (
            lambda r: r["StoppingCondition"].update(MaxRuntimeInSeconds=0),
            r"MaxRuntimeInSeconds 0 is below the minimum 1",
        ),
        (
            lambda r: r["AlgorithmSpecification"].update(TrainingInputMode="Streaming"),
            r"TrainingInputMode 'Streaming' is not one of Pipe, File, FastFile",
        ),
        (
            lambda r: r["ResourceConfig"].update(InstanceType="ml.nope.large"),
            r"InstanceType 'ml\.nope\.large' is not one of ml\.m4\.xlarge, .*\(\d+ in all\) "
            r"\(set by hydra\.launcher\.instance_type\)$",
        ),
        (
            lambda r: r.update(TrainingJobName="x" * 64),
            r"TrainingJobName 'x{57}\.\.\.' is 64 characters long; at most 63 allowed",
        ),
        (
            lambda r: r["VpcConfig"].update(Subnets=[]),
            r"^CreateTrainingJob\.VpcConfig\.Subnets has 0 item\(s\); at least 1 required",
        ),
        (
            lambda r: r["Environment"].update({f"V{i}": "1" for i in range(100)}),
            r"^CreateTrainingJob\.Environment has 102 entry\(s\); at most 100 allowed",
        ),
        (
            lambda r: r["HyperParameters"].update(lr=1e-3),
            r"^CreateTrainingJob\.HyperParameters\['lr'\] is float 0\.001, expected string",
        ),
        (
            lambda r: r["Tags"].append({"Key": "semi;colon", "Value": "x"}),
            r"^CreateTrainingJob\.Tags\[\d+\]\.Key 'semi;colon' does not match",
        ),
        (
            lambda r: r["AlgorithmSpecification"].update(TrainingImage="i" * 256),
            r"TrainingImage 'i{57}\.\.\.' is 256 characters long; at most 255 allowed "
            r"\(set by hydra\.launcher\.image_uri\)$",
        ),
    ],
)
def test_each_rule_is_one_line_naming_path_value_and_rule(good, change, expected):
    change(good)
    with pytest.raises(LaunchError) as info:
        _validate.validate_request("CreateTrainingJob", good, hints=_request.TRAINING_JOB_SETTINGS)
    assert re.search(expected, str(info.value)), str(info.value)
    assert "\n" not in str(info.value)


def test_secret_environment_values_are_never_printed(good):
    good["Environment"]["TOKEN"] = "s3cr3t" * 100
    with pytest.raises(LaunchError) as info:
        _validate.validate_request("CreateTrainingJob", good)
    assert "s3cr3t" not in str(info.value)
    assert "CreateTrainingJob.Environment['TOKEN'] <redacted> is 600 characters long" in str(
        info.value
    )


def test_unions_take_exactly_one_member():
    shape = _validate._service_model("sagemaker").shape_for("CustomFileSystemConfig")
    assert shape.metadata.get("union")

    def check(value: dict[str, Any]) -> list[str]:
        return [v.message for v in _validate._check(shape, value, "Space.FileSystem")]

    efs = {"FileSystemId": "fs-12345678"}
    assert check({"EFSFileSystemConfig": efs}) == []
    assert check({}) == [
        "Space.FileSystem must set exactly one of EFSFileSystemConfig, "
        "FSxLustreFileSystemConfig, S3FileSystemConfig; it sets 0 (none)"
    ]
    two = check({"EFSFileSystemConfig": efs, "FSxLustreFileSystemConfig": efs})
    assert two[0].endswith("it sets 2 (EFSFileSystemConfig, FSxLustreFileSystemConfig)")


# -- Java patterns -----------------------------------------------------------------------


def test_every_pattern_of_the_sagemaker_model_translates():
    model = _validate._service_model("sagemaker")
    patterns = {
        model.shape_for(name).metadata["pattern"]
        for name in model.shape_names
        if "pattern" in model.shape_for(name).metadata
    }
    assert len(patterns) > 100
    untranslated = [p for p in patterns if _validate.compiled_pattern(p) is None]
    assert untranslated == []


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        (r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)", "Grüße 12:x", True),
        (r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)", "semi;colon", False),
        (r"([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,128}", "a b", True),
        (r"[\p{L}\p{M}\p{S}\p{N}\p{P}]+", "déjà-vu€!", True),
        (r"[\p{L}\p{M}\p{S}\p{N}\p{P}]+", "two words", False),
        (r"arn:[\p{Alnum}\-]+:lambda:.*", "arn:aws-cn:lambda:x", True),
        (r"arn:[\p{Alnum}\-]+:lambda:.*", "arn:aws_cn:lambda:x", False),
        (r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*", "ok \U0001f600", True),
        (r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\t]*", "bell\x07", False),
        # whole-value match, as the service applies it; \d is ASCII as in Java
        (r"[a-zA-Z_][a-zA-Z0-9_]*", "MY-VAR", False),
        (r"\d+", "١٢", False),
        (r"[]a]+", "]a", True),
    ],
)
def test_java_patterns_mean_the_same_here(pattern, value, matches):
    compiled = _validate.compiled_pattern(pattern)
    assert compiled is not None
    assert (compiled.fullmatch(value) is not None) is matches


# -- the tuning job (issue 11) uses the same check ---------------------------------------


def tuning_request(training: dict[str, Any]) -> dict[str, Any]:
    definition = {
        key: training[key]
        for key in (
            "RoleArn",
            "InputDataConfig",
            "OutputDataConfig",
            "ResourceConfig",
            "StoppingCondition",
            "CheckpointConfig",
            "EnableManagedSpotTraining",
            "Environment",
        )
    }
    definition["AlgorithmSpecification"] = {
        k: v
        for k, v in training["AlgorithmSpecification"].items()
        if k != "EnableSageMakerMetricsTimeSeries"
    }
    definition["StaticHyperParameters"] = training["HyperParameters"]
    return {
        "HyperParameterTuningJobName": "segtrain-tune-1",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "val_mIoU"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {
                        "Name": "model.lr",
                        "MinValue": "0.0001",
                        "MaxValue": "0.1",
                        "ScalingType": "Logarithmic",
                    }
                ],
                "CategoricalParameterRanges": [
                    {"Name": "trainer.batch_size", "Values": ["8", "16"]}
                ],
            },
            "TrainingJobEarlyStoppingType": "Off",
        },
        "TrainingJobDefinition": definition,
        "Tags": training["Tags"],
    }


def test_a_minimal_tuning_job_request_passes(good):
    _validate.validate_request("CreateHyperParameterTuningJob", tuning_request(good))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda r: r.update(HyperParameterTuningJobName="segtrain-tune-" + "x" * 20),
            r"^CreateHyperParameterTuningJob\.HyperParameterTuningJobName 'segtrain-tune-x+' "
            r"is 34 characters long; at most 32 allowed",
        ),
        (
            lambda r: r["HyperParameterTuningJobConfig"].update(Strategy="Genetic"),
            r"\.Strategy 'Genetic' is not one of Bayesian, Random, Hyperband, Grid",
        ),
        (
            lambda r: r["HyperParameterTuningJobConfig"]["ResourceLimits"].update(
                MaxParallelTrainingJobs=0
            ),
            r"ResourceLimits\.MaxParallelTrainingJobs 0 is below the minimum 1",
        ),
        (
            lambda r: r["HyperParameterTuningJobConfig"]["ParameterRanges"][
                "ContinuousParameterRanges"
            ][0].update(ScalingType="Log"),
            r"ContinuousParameterRanges\[0\]\.ScalingType 'Log' is not one of",
        ),
        (
            lambda r: r["TrainingJobDefinition"]["Environment"].update({"MY-VAR": "1"}),
            r"^CreateHyperParameterTuningJob\.TrainingJobDefinition\.Environment key 'MY-VAR' "
            r"does not match \[a-zA-Z_\]\[a-zA-Z0-9_\]\* \(set by hydra\.launcher\.environment\)$",
        ),
    ],
)
def test_a_bad_tuning_job_request_is_refused(good, change, expected):
    request = tuning_request(good)
    change(request)
    hints = {f"TrainingJobDefinition.{k}": v for k, v in _request.TRAINING_JOB_SETTINGS.items()}
    with pytest.raises(LaunchError) as info:
        _validate.validate_request("CreateHyperParameterTuningJob", request, hints=hints)
    assert re.search(expected, str(info.value)), str(info.value)
