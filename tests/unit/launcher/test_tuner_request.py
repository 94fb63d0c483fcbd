"""Sweep syntax -> ParameterRanges, the tuner's limits, and the whole tuning request."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hydra_plugins.segtrain_optuna.space import search_space
from hydra_plugins.segtrain_sagemaker import _request, _tuning
from hydra_plugins.segtrain_sagemaker._validate import first_violation
from omegaconf import OmegaConf

from segtrain.errors import LaunchError
from tests.unit.launcher.test_request import opts, plan

CKPT = "s3://my-bucket/segtrain/tune-1/checkpoints/"


def ranges(*overrides: str, scaling: str = "Linear") -> dict[str, Any]:
    dims, _ = search_space(list(overrides))
    return _tuning.parameter_ranges(dims, scaling)


@pytest.fixture
def training_request(compose_config) -> dict[str, Any]:
    cfg = OmegaConf.to_container(compose_config("train", ["hardware=ml_g5_xlarge"]), resolve=False)
    return _request.build_request(cfg, opts(), plan())


def tuning_request(training_request, *overrides: str, **sweeper: Any) -> dict[str, Any]:
    dims, _ = search_space(list(overrides))
    return _tuning.build_tuning_request(
        "segtrain-tune-1", dims, training_request, sweeper, "val_mIoU", CKPT
    )


# -- range conversion --------------------------------------------------------------------


def test_every_sweep_syntax_maps_to_its_parameter_range():
    got = ranges(
        "model.lr=tag(log, interval(1e-4, 1e-1))",
        "model.weight_decay=interval(0, 0.1)",
        "trainer.max_epochs=tag(int, interval(1, 8))",
        "trainer.batch_size=range(4, 9)",
        "model.warmup=range(0, 10, step=5)",
        "model.optimizer=choice(adam, adamw)",
        "augment.flip=true,false",
    )
    assert got["ContinuousParameterRanges"] == [
        {"Name": "model.lr", "MinValue": "0.0001", "MaxValue": "0.1", "ScalingType": "Logarithmic"},
        {
            "Name": "model.weight_decay",
            "MinValue": "0.0",
            "MaxValue": "0.1",
            "ScalingType": "Linear",
        },
    ]
    assert got["IntegerParameterRanges"] == [
        {"Name": "trainer.max_epochs", "MinValue": "1", "MaxValue": "8", "ScalingType": "Linear"},
        {"Name": "trainer.batch_size", "MinValue": "4", "MaxValue": "8", "ScalingType": "Linear"},
    ]
    assert got["CategoricalParameterRanges"] == [
        {"Name": "model.warmup", "Values": ["0", "5"]},
        {"Name": "model.optimizer", "Values": ["adam", "adamw"]},
        {"Name": "augment.flip", "Values": ["true", "false"]},
    ]


def test_auto_scaling_applies_to_linear_ranges_only():
    got = ranges("a=interval(1, 2)", "b=tag(log, interval(1, 2))", scaling="Auto")
    assert [r["ScalingType"] for r in got["ContinuousParameterRanges"]] == ["Auto", "Logarithmic"]
    with pytest.raises(LaunchError, match=r"hydra\.sweeper\.scaling"):
        ranges("a=interval(1, 2)", scaling="Reverse")


@pytest.mark.parametrize(
    "dims, message",
    [
        ([], "search space is empty"),
        ([_tuning.Dimension(f"k{i}", "float", 0.0, 1.0) for i in range(21)], "at most 20"),
        ([_tuning.Dimension("a", "float", 1.0, 1.0)], "min < max"),
        (
            [_tuning.Dimension("a", "float", 0.0, 1.0, log=True)],
            "Logarithmic scaling needs min > 0",
        ),
    ],
)
def test_bad_ranges_are_one_line_launch_errors(dims, message):
    with pytest.raises(LaunchError, match=message) as err:
        _tuning.parameter_ranges(dims)
    assert "\n" not in str(err.value)


# -- limits ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, sweeper, message",
    [
        (["a=interval(1, 2)"], {"strategy": "Grid"}, "Grid searches categorical ranges only"),
        (
            ["a=interval(1, 2)"],
            {"strategy": "Hyperband", "max_epochs": 9, "early_stopping": "Auto"},
            "early_stopping=Off",
        ),
        (["a=interval(1, 2)"], {"strategy": "Hyperband"}, "max_epochs"),
        (
            ["a=interval(1, 2)"],
            {"max_jobs": 2, "max_parallel_jobs": 3},
            "max_parallel_jobs=3 exceeds",
        ),
        (["a=interval(1, 2)"], {"strategy": "Evolution"}, "hydra.sweeper.strategy"),
        (["a=interval(1, 2)"], {"early_stopping": "On"}, "hydra.sweeper.early_stopping"),
        (["a=interval(1, 2)"], {"completion": {"targte": 1}}, "hydra.sweeper.completion"),
        (
            ["a=interval(1, 2)"],
            {"warm_start": {"parents": ["p"], "type": "Copy"}},
            "warm_start.type",
        ),
        (["a=interval(1, 2)"], {"warm_start": {"parents": ["bad_name"]}}, "warm_start.parents"),
    ],
)
def test_limits_fail_before_submitting(training_request, overrides, sweeper, message):
    with pytest.raises(LaunchError, match=message) as err:
        tuning_request(training_request, *overrides, **sweeper)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", ["a" * 33, "under_score", "-lead"])
def test_the_tuning_job_name_is_checked(training_request, name):
    dims, _ = search_space(["a=interval(1, 2)"])
    with pytest.raises(LaunchError, match="tuning_job_name"):
        _tuning.build_tuning_request(name, dims, training_request, {}, "val_mIoU", CKPT)


def test_the_objective_needs_a_metric_definition(training_request):
    dims, _ = search_space(["a=interval(1, 2)"])
    with pytest.raises(LaunchError, match="no metric definition"):
        _tuning.build_tuning_request("t", dims, training_request, {}, "nope", CKPT)


def test_too_many_categorical_values_are_named_by_the_strict_check(training_request):
    values = ",".join(str(i) for i in range(40))
    with pytest.raises(LaunchError, match=r"hydra\.sweeper\.params"):
        tuning_request(training_request, f"a=choice({values})")


# -- the request -------------------------------------------------------------------------


def test_the_tuning_request_reuses_the_training_request(training_request):
    req = tuning_request(
        training_request,
        "model.lr=tag(log, interval(1e-4, 1e-1))",
        "trainer.batch_size=choice(8, 16)",
        max_jobs=40,
        max_parallel_jobs=4,
        max_runtime=7200,
        early_stopping="Auto",
        completion={"target": 0.9, "not_improving": 10},
        warm_start={"parents": ["segtrain-tune-0"], "type": "TransferLearning"},
        seed=3,
        tags={"team": "vision"},
    )
    assert first_violation(_tuning.OPERATION, req) is None
    config = req["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Bayesian"
    assert config["HyperParameterTuningJobObjective"] == {
        "Type": "Maximize",
        "MetricName": "val_mIoU",
    }
    assert config["ResourceLimits"] == {
        "MaxParallelTrainingJobs": 4,
        "MaxNumberOfTrainingJobs": 40,
        "MaxRuntimeInSeconds": 7200,
    }
    assert config["TrainingJobEarlyStoppingType"] == "Auto"
    assert config["RandomSeed"] == 3
    assert config["TuningJobCompletionCriteria"] == {
        "TargetObjectiveMetricValue": 0.9,
        "BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 10},
    }
    assert req["WarmStartConfig"]["WarmStartType"] == "TransferLearning"
    assert {"Key": "team", "Value": "vision"} in req["Tags"]
    definition = req["TrainingJobDefinition"]
    shared = "RoleArn InputDataConfig OutputDataConfig ResourceConfig StoppingCondition"
    for key in [*shared.split(), "Environment", "EnableManagedSpotTraining"]:
        assert definition[key] == training_request[key]
    algo = definition["AlgorithmSpecification"]
    assert algo["TrainingImage"] == training_request["AlgorithmSpecification"]["TrainingImage"]
    assert (
        algo["MetricDefinitions"] == training_request["AlgorithmSpecification"]["MetricDefinitions"]
    )
    static = definition["StaticHyperParameters"]
    assert "sagemaker_job_name" not in static
    assert static["sagemaker_program"] == training_request["HyperParameters"]["sagemaker_program"]
    assert json.loads(static[_tuning.TUNED_KEYS_HYPERPARAMETER]) == [
        "model.lr",
        "trainer.batch_size",
    ]
    assert definition["CheckpointConfig"]["S3Uri"] == CKPT


def test_grid_omits_the_job_count_and_hyperband_sets_its_resource(training_request):
    grid = tuning_request(training_request, "a=choice(1, 2)", strategy="Grid", max_parallel_jobs=2)
    assert grid["HyperParameterTuningJobConfig"]["ResourceLimits"] == {"MaxParallelTrainingJobs": 2}
    band = tuning_request(
        training_request,
        "a=interval(1, 2)",
        strategy="Hyperband",
        max_epochs=27,
        direction="minimize",
    )
    config = band["HyperParameterTuningJobConfig"]
    assert config["StrategyConfig"] == {
        "HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 27}
    }
    assert config["HyperParameterTuningJobObjective"]["Type"] == "Minimize"


# -- inside a trial ----------------------------------------------------------------------


def test_a_trial_turns_exactly_the_tuned_strings_into_schema_checked_values(
    tmp_path, compose_config
):
    config = tmp_path / "input" / "config"
    config.mkdir(parents=True)
    hps = {
        "sagemaker_program": '"sm_entry.py"',
        "model.lr": "0.0005",
        "trainer.batch_size": "16",
        "model.weight_decay": "0.1",  # not tuned: never read
        _tuning.TUNED_KEYS_HYPERPARAMETER: '["model.lr", "trainer.batch_size"]',
    }
    (config / "hyperparameters.json").write_text(json.dumps(hps))
    found = _tuning.container_hyperparameters({}, str(tmp_path))
    assert found == hps
    assert _tuning.container_hyperparameters({"SM_HPS": json.dumps({"a": 1})}, "") == {"a": 1}
    cfg = OmegaConf.create(OmegaConf.to_container(compose_config("train", []), resolve=False))
    before = cfg.model.weight_decay
    applied = _tuning.tuned_overrides(cfg, found)
    assert applied == ["model.lr=0.0005", "trainer.batch_size=16"]
    assert cfg.model.lr == 0.0005 and isinstance(cfg.model.lr, float)
    assert cfg.trainer.batch_size == 16 and isinstance(cfg.trainer.batch_size, int)
    assert cfg.model.weight_decay == before
    plain = OmegaConf.create({"model": {"lr": 1.0}})
    assert _tuning.tuned_overrides(plain, {"model.lr": "2"}) == []  # not a trial: untouched
    assert plain.model.lr == 1.0


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("model.lr", "-1", "model.lr"),
        ("model.lr", "fast", "model.lr"),
        ("model.nope", "1", "not a key"),
    ],
)
def test_a_value_the_schema_refuses_fails_the_trial_in_one_line(
    compose_config, key, value, message
):
    from segtrain.errors import ConfigError

    cfg = OmegaConf.create(OmegaConf.to_container(compose_config("train", []), resolve=False))
    hps = {key: value, _tuning.TUNED_KEYS_HYPERPARAMETER: json.dumps([key])}
    with pytest.raises(ConfigError, match=message) as err:
        _tuning.tuned_overrides(cfg, hps)
    assert "\n" not in str(err.value)


def test_each_trial_keys_its_checkpoints_by_its_training_job_name():
    env = {"TRAINING_JOB_NAME": "tune-001-abc"}
    assert _tuning.trial_checkpoint_dir(env, "/opt/ml") == "/opt/ml/checkpoints/tune-001-abc"
    env["SEGTRAIN_CHECKPOINT_DIR"] = "/tmp/ck/"
    assert _tuning.trial_checkpoint_dir(env, "/opt/ml") == "/tmp/ck/tune-001-abc"
    with pytest.raises(LaunchError, match="TRAINING_JOB_NAME"):
        _tuning.trial_checkpoint_dir({}, "/opt/ml")
