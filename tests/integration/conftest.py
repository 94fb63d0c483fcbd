"""Integration fixtures: a real moto S3/SageMaker HTTP endpoint on 127.0.0.1.

``moto_endpoint`` gives each test an empty moto server (state reset per test) and points
boto3 at it through the environment (``AWS_ENDPOINT_URL``, fake credentials, region
us-east-1), exactly as a user would point segtrain at MinIO or another S3-compatible
store. The server itself is started once per session on a free port. It is an HTTP
server, not in-process patching of boto3, so subprocesses reach it too (they inherit the
environment).
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Start ``moto.server.ThreadedMotoServer`` on 127.0.0.1:<free port> for the session."""
    server_mod = pytest.importorskip("moto.server", reason="moto[server] is not installed")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def moto_endpoint(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The endpoint URL, with a fresh (reset) moto state and the AWS env set for this test."""
    req = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=10).close()
    for key in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in FAKE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    yield moto_server
