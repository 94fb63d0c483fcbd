"""``sweep=sagemaker_tuner`` against moto: the exact CreateHyperParameterTuningJob on the wire."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from hydra_plugins.segtrain_sagemaker import _core_aws, _tuning
from hydra_plugins.segtrain_sagemaker._validate import first_violation

from segtrain.data.storage import split_s3_uri
from tests.integration.launcher.conftest import run_segtrain_in_process


@pytest.fixture
def captured_tuning(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    captured: list[dict[str, Any]] = []
    real = _core_aws.boto_session

    def session_with_hook(region: str | None) -> Any:
        session = real(region)
        session.events.register(
            "before-call.sagemaker.CreateHyperParameterTuningJob",
            lambda params, **_: captured.append(json.loads(params["body"])),
        )
        return session

    monkeypatch.setattr(_core_aws, "boto_session", session_with_hook)
    return captured


def tune(tmp_path: Path, launcher_overrides: list[str], *overrides: str) -> None:
    run_segtrain_in_process(
        [
            "train",
            "-m",
            "sweep=sagemaker_tuner",
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
            "hardware=ml_g5_xlarge",
            *launcher_overrides,
            *overrides,
        ]
    )


def test_wait_false_submits_one_tuning_job_from_the_sweep_syntax(
    tmp_path, launcher_overrides, captured_tuning, capsys
):
    tune(
        tmp_path,
        launcher_overrides,
        "hydra.sweeper.wait=false",
        "hydra.sweeper.tuning_job_name=segtrain-tune-test",
        "hydra.sweeper.max_jobs=40",
        "hydra.sweeper.max_parallel_jobs=4",
        "model.lr=tag(log, interval(1e-4, 1e-1))",
        "trainer.batch_size=choice(8, 16)",
        "trainer.max_epochs=3",
    )
    (request,) = captured_tuning
    assert first_violation(_tuning.OPERATION, request) is None
    assert request["HyperParameterTuningJobName"] == "segtrain-tune-test"
    config = request["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Bayesian"
    assert config["ResourceLimits"] == {"MaxParallelTrainingJobs": 4, "MaxNumberOfTrainingJobs": 40}
    assert config["HyperParameterTuningJobObjective"] == {
        "Type": "Maximize",
        "MetricName": "val_mIoU",
    }
    ranges = config["ParameterRanges"]
    assert ranges["CategoricalParameterRanges"] == [
        {"Name": "trainer.batch_size", "Values": ["8", "16"]}
    ]
    names = {r["Name"] for r in ranges["ContinuousParameterRanges"]}
    assert names == {"model.lr", "model.weight_decay"}  # the command line adds to the preset
    definition = request["TrainingJobDefinition"]
    assert definition["ResourceConfig"]["InstanceType"] == "ml.g5.xlarge"
    assert definition["CheckpointConfig"]["S3Uri"].endswith("/segtrain-tune-test/checkpoints/")
    static = definition["StaticHyperParameters"]
    assert set(json.loads(static[_tuning.TUNED_KEYS_HYPERPARAMETER])) == {
        "model.lr",
        "model.weight_decay",
        "trainer.batch_size",
    }
    # the template's config channel holds the fixed overrides, shipped before submitting
    config_uri = definition["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    bucket, key = split_s3_uri(config_uri)
    shipped = boto3.client("s3").get_object(Bucket=bucket, Key=key + "config.yaml")["Body"].read()
    assert "max_epochs: 3" in shipped.decode()
    out = capsys.readouterr().out
    assert "submitted tuning job segtrain-tune-test" in out and "#/hyper-tuning-jobs/" in out
    info = json.loads((tmp_path / "sweep" / "tuning_job.json").read_text())
    assert info["arn"].endswith("segtrain-tune-test")
    listed = boto3.client("sagemaker").list_hyper_parameter_tuning_jobs()
    assert "segtrain-tune-test" in {
        j["HyperParameterTuningJobName"] for j in listed["HyperParameterTuningJobSummaries"]
    }


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["hydra.sweeper.wait=true"], "wait=true"),
        (["hydra.sweeper.wait=false", "hydra.sweeper.local=true"], "docker-free local run"),
        (["hydra.sweeper.wait=false", "hydra.sweeper.strategy=Grid"], "Grid searches categorical"),
    ],
)
def test_unsupported_or_invalid_settings_fail_before_submitting(
    tmp_path, launcher_overrides, captured_tuning, capsys, overrides, message
):
    with pytest.raises(BaseException) as err:
        tune(tmp_path, launcher_overrides, *overrides)
    text = str(err.value) + capsys.readouterr().err
    assert message in text, text
    assert captured_tuning == []
