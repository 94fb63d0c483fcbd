"""``hydra/launcher=sagemaker`` against moto: what is uploaded where, and what is submitted."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import boto3
import pytest

from segtrain.data.storage import split_s3_uri
from tests.integration.launcher.conftest import run_segtrain_in_process


def segtrain_multirun(tmp_path: Path, *overrides: str) -> None:
    run_segtrain_in_process(
        [
            "train",
            "-m",
            "hydra/launcher=sagemaker",
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
            *overrides,
        ]
    )


def keys(uri: str) -> list[str]:
    bucket, prefix = split_s3_uri(uri)
    page = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [o["Key"][len(prefix) :] for o in page.get("Contents", [])]


def test_a_sweep_submits_one_job_each_with_its_code_config_and_checkpoints(
    tmp_path, launcher_overrides, captured_requests, capsys
):
    segtrain_multirun(
        tmp_path,
        *launcher_overrides,
        "hydra.launcher.wait=false",
        "hardware=ml_g5_xlarge",
        "model.lr=0.01,0.1",
    )
    assert len(captured_requests) == 2
    out = capsys.readouterr().out
    for num, request in enumerate(captured_requests):
        name = request["TrainingJobName"]
        assert f"submitted {name}" in out and f"#/jobs/{name}" in out
        config_uri = request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
        assert set(keys(config_uri)) == {"config.yaml", "job.json"}
        bucket, key = split_s3_uri(config_uri)
        shipped = boto3.client("s3").get_object(Bucket=bucket, Key=key + "config.yaml")["Body"]
        text = shipped.read().decode()
        assert f"lr: {[0.01, 0.1][num]}" in text and "hydra:" in text
        code = json.loads(request["HyperParameters"]["sagemaker_submit_directory"])
        bucket, key = split_s3_uri(code)
        blob = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            assert "sm_entry.py" in tar.getnames()
        assert name in request["CheckpointConfig"]["S3Uri"]
        info = json.loads((tmp_path / "sweep" / str(num) / "sagemaker_job.json").read_text())
        assert info["job_name"] == name and info["arn"].endswith(name)
    sm = boto3.client("sagemaker")
    assert {j["TrainingJobName"] for j in sm.list_training_jobs()["TrainingJobSummaries"]} >= {
        r["TrainingJobName"] for r in captured_requests
    }


def test_a_local_dataset_is_uploaded_and_becomes_the_train_channel(
    tmp_path, launcher_overrides, captured_requests
):
    root = tmp_path / "scenes"
    (root / "images").mkdir(parents=True)
    (root / "images" / "a.png").write_bytes(b"png")
    (root / "classes.csv").write_text("name,r,g,b\n")
    segtrain_multirun(
        tmp_path,
        *launcher_overrides,
        "hydra.launcher.wait=false",
        "hydra.launcher.upload_data=true",
        "hardware=ml_g5_xlarge",
        "dataset=folder",
        f"dataset.root={root}",
    )
    [request] = captured_requests
    channels = {c["ChannelName"]: c for c in request["InputDataConfig"]}
    uri = channels["train"]["DataSource"]["S3DataSource"]["S3Uri"]
    assert uri.endswith("/data/folder/")
    assert sorted(keys(uri)) == ["classes.csv", "images/a.png"]


def test_waiting_streams_logs_fetches_outputs_and_returns_the_objective(
    tmp_path, launcher_overrides, monkeypatch, capsys
):
    """SageMaker's part is played by the docker-free runner when the job is created."""
    from hydra_plugins.segtrain_sagemaker import _core_aws
    from hydra_plugins.segtrain_sagemaker._local import LocalTrainingRun

    from tests.integration.launcher.test_e2e_synthetic import TINY

    runs = []
    real = _core_aws.boto_session

    def execute(params, **_):
        request = json.loads(params["body"])
        run = LocalTrainingRun(
            request, tmp_path / "opt_ml", boto3.client("s3"), logs=boto3.client("logs")
        )
        runs.append(run.run())

    def session_running_jobs(region):
        session = real(region)
        session.events.register("before-call.sagemaker.CreateTrainingJob", execute)
        return session

    monkeypatch.setattr(_core_aws, "boto_session", session_running_jobs)
    segtrain_multirun(tmp_path, *launcher_overrides, "hydra.launcher.poll_seconds=1", *TINY)
    [result] = runs
    assert result.status == "Completed", result.log[-3000:]
    job_dir = tmp_path / "sweep" / "0"
    # output.tar.gz unpacked into the local job dir: Hydra's files and segtrain's results
    assert (job_dir / ".hydra" / "config.yaml").is_file()
    outcome = json.loads((job_dir / "segtrain_job.json").read_text())
    assert outcome["status"] == "COMPLETED"
    assert outcome["return_value"] == pytest.approx(result.final_metrics["val_mIoU"], abs=1e-5)
    # the log came back through CloudWatch while waiting
    assert "[metrics] epoch=2" in capsys.readouterr().out
