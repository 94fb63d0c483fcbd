"""The plugin as users meet it: config group entries and ``segtrain train -m ...`` dry runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hydra.core.config_store import ConfigStore

ACCOUNT = [
    "hydra.launcher.role=arn:aws:iam::123456789012:role/SageMakerExecution",
    "hydra.launcher.bucket=my-bucket",
    "hydra.launcher.region=eu-central-1",
]


def segtrain(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "segtrain.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def test_both_launchers_are_in_the_hydra_launcher_group():
    import hydra_plugins.segtrain_sagemaker.config  # noqa: F401

    group = ConfigStore.instance().repo["hydra"]["launcher"]
    assert {"sagemaker.yaml", "sagemaker_local.yaml"} <= set(group)
    assert group["sagemaker.yaml"].node._target_.endswith("launcher.SageMakerLauncher")
    assert group["sagemaker_local.yaml"].node._target_.endswith("launcher.SageMakerLocalLauncher")


def test_a_dry_run_sweep_writes_one_validated_request_per_job(tmp_path):
    out = segtrain(
        "train",
        "-m",
        "hydra/launcher=sagemaker",
        "hydra.launcher.dry_run=true",
        "hardware=ml_p4d_24xlarge",
        "trainer=data_parallel",
        "model.lr=0.01,0.1",
        "hydra.sweep.dir=sweep",
        *ACCOUNT,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    requests = [
        json.loads((tmp_path / "sweep" / str(i) / "sagemaker_request.json").read_text())
        for i in (0, 1)
    ]
    names = [r["TrainingJobName"] for r in requests]
    assert names[0] != names[1] and all(n.startswith("segtrain-train-") for n in names)
    checkpoints = [r["CheckpointConfig"]["S3Uri"] for r in requests]
    assert checkpoints == [f"s3://my-bucket/segtrain/{n}/checkpoints/" for n in names]
    for r in requests:
        assert r["ResourceConfig"]["InstanceType"] == "ml.p4d.24xlarge"
        assert "pytorch-training" in r["AlgorithmSpecification"]["TrainingImage"]
        assert r["HyperParameters"]["sagemaker_torch_distributed_enabled"] == "true"
    assert "[dry run]" in out.stdout


def test_a_missing_bucket_is_one_readable_line_without_traceback(tmp_path):
    out = segtrain(
        "train",
        "-m",
        "hydra/launcher=sagemaker",
        "hardware=ml_g5_xlarge",
        "hydra.launcher.region=eu-central-1",
        "hydra.launcher.bucket=null",
        cwd=tmp_path,
    )
    assert out.returncode != 0
    assert "LaunchError: hydra.launcher.bucket is not set" in out.stderr
    assert "Traceback" not in out.stderr


def test_one_checkpoint_uri_for_a_sweep_is_refused(tmp_path):
    out = segtrain(
        "train",
        "-m",
        "hydra/launcher=sagemaker",
        "hydra.launcher.dry_run=true",
        "hardware=ml_g5_xlarge",
        "model.lr=0.01,0.1",
        "hydra.launcher.checkpoint_s3_uri=s3://my-bucket/old-job/checkpoints/",
        *ACCOUNT,
        cwd=tmp_path,
    )
    assert out.returncode != 0
    assert "checkpoint_s3_uri resumes one job, but 2 jobs were launched" in out.stderr


def test_a_local_dataset_needs_s3_or_upload(tmp_path):
    out = segtrain(
        "train",
        "-m",
        "hydra/launcher=sagemaker",
        "hydra.launcher.dry_run=true",
        "hardware=ml_g5_xlarge",
        "dataset=a2d2",
        "dataset.root=/data/a2d2",
        *ACCOUNT,
        cwd=tmp_path,
    )
    assert out.returncode != 0
    assert "dataset.root='/data/a2d2' is a local path" in out.stderr
    assert "hydra.launcher.upload_data=true" in out.stderr
