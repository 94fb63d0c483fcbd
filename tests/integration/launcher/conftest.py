"""moto in server mode on 127.0.0.1 standing in for S3, SageMaker and CloudWatch Logs.

Every boto3 client (in this process, in the toolkit subprocesses of the docker-free
runner and in Hydra's integration-suite apps) reaches it through ``AWS_ENDPOINT_URL``.
moto accepts any CreateTrainingJob and rewrites some fields, so tests capture the exact
request on the wire with a botocore ``before-call`` hook (:func:`captured_requests`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

BUCKET = "segtrain-launcher-tests"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
REGION = "us-east-1"

_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture(scope="session")
def launcher_moto(moto_server: str) -> Iterator[str]:
    """The shared moto server (tests/integration/conftest.py), with AWS_* variables set for
    the whole session: module-scoped fixtures here submit and train once for many tests,
    so the per-test ``moto_endpoint`` (which resets moto's state) does not fit."""
    saved = {k: os.environ.get(k) for k in [*_FAKE_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(_FAKE_ENV)
    os.environ["AWS_ENDPOINT_URL"] = moto_server
    try:
        yield moto_server
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def bucket(launcher_moto: str) -> str:
    import boto3

    boto3.client("s3").create_bucket(Bucket=BUCKET)
    return BUCKET


@pytest.fixture
def launcher_overrides(bucket: str) -> list[str]:
    """What a user passes to target an account: role, bucket, region."""
    return [
        f"hydra.launcher.role={ROLE}",
        f"hydra.launcher.bucket={bucket}",
        f"hydra.launcher.region={REGION}",
    ]


@pytest.fixture
def captured_requests(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every CreateTrainingJob request body exactly as botocore sends it."""
    from hydra_plugins.segtrain_sagemaker import _core_aws

    captured: list[dict[str, Any]] = []
    real = _core_aws.boto_session

    def capture(params: dict[str, Any], **_: Any) -> None:
        captured.append(json.loads(params["body"]))

    def session_with_hook(region: str | None) -> Any:
        session = real(region)
        session.events.register("before-call.sagemaker.CreateTrainingJob", capture)
        return session

    monkeypatch.setattr(_core_aws, "boto_session", session_with_hook)
    return captured


def run_segtrain_in_process(args: Sequence[str]) -> None:
    """``segtrain <args>`` in this process (so botocore hooks see its requests), leaving
    Hydra's global state (singletons, version base) as it was for the tests that follow."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.singleton import Singleton

    from segtrain.cli import main

    state = Singleton.get_state()
    GlobalHydra.instance().clear()
    try:
        main(list(args))
    finally:
        GlobalHydra.instance().clear()
        with contextlib.suppress(Exception):
            Singleton.set_state(state)
