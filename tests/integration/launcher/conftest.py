"""moto in server mode on 127.0.0.1 standing in for S3, SageMaker and CloudWatch Logs.

Every boto3 client (in this process, in the toolkit subprocesses of the docker-free
runner and in Hydra's integration-suite apps) reaches it through ``AWS_ENDPOINT_URL``.
moto accepts any CreateTrainingJob and rewrites some fields, so tests capture the exact
request on the wire with a botocore ``before-call`` hook (:func:`captured_requests`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
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
def moto_endpoint() -> Iterator[str]:
    """A moto server on a free 127.0.0.1 port; AWS_* variables point every client at it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in [*_FAKE_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(_FAKE_ENV)
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    try:
        yield endpoint
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


@pytest.fixture(scope="session")
def bucket(moto_endpoint: str) -> str:
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
    from hydra_plugins.segtrain_sagemaker import _submit

    captured: list[dict[str, Any]] = []
    real = _submit.boto_session

    def capture(params: dict[str, Any], **_: Any) -> None:
        captured.append(json.loads(params["body"]))

    def session_with_hook(region: str | None) -> Any:
        session = real(region)
        session.events.register("before-call.sagemaker.CreateTrainingJob", capture)
        return session

    monkeypatch.setattr(_submit, "boto_session", session_with_hook)
    return captured
