"""The job log of a ``sagemaker_local`` run holds no environment: the training toolkit
logs every variable's name and value at INFO (secrets included), so segtrain's request
sets its log level to WARNING. A fake secret passed as a job environment variable must
never appear, while the run's own lines (the metric lines) still do."""

from __future__ import annotations

import json

import pytest

from tests.integration.launcher.test_e2e_synthetic import TINY

pytest.importorskip("lightning")

SECRET = "fake-secret-value-7f3a9c"


def test_the_job_log_never_shows_an_environment_value(tmp_path, launcher_moto, bucket):
    from tests.integration.launcher.conftest import REGION, run_segtrain_in_process

    tiny = [o for o in TINY if not o.startswith("trainer.max_epochs")]
    run_segtrain_in_process(
        [
            "train",
            "-m",
            "hydra/launcher=sagemaker_local",
            f"hydra.launcher.bucket={bucket}",
            f"hydra.launcher.region={REGION}",
            f"+hydra.launcher.environment.SEGTRAIN_FAKE_TOKEN={SECRET}",
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
            "trainer.max_epochs=1",
            *tiny,
        ]
    )
    job_dir = tmp_path / "sweep" / "0"
    desc = json.loads((job_dir / "sagemaker_job.json").read_text())
    assert desc["TrainingJobStatus"] == "Completed", desc
    [base] = (job_dir / "sagemaker").iterdir()
    log = (base / "job.log").read_text()
    assert "[metrics] epoch=1" in log  # the log is the run's
    assert SECRET not in log
    assert "Training Env" not in log and "Environment variables:" not in log
    assert "SEGTRAIN_FAKE_TOKEN" not in log
