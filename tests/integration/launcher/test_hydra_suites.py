"""Hydra's own launcher test suites against ``hydra/launcher=sagemaker_local``.

Every job of these sweeps goes the whole way: a CreateTrainingJob request is built and
validated, the code tarball and config are uploaded to (moto) S3, and the docker-free
runner materialises ``/opt/ml`` from the request and runs the job through the
``sagemaker-training`` toolkit in a subprocess. The suites' apps are tiny Hydra apps, so
their task functions travel pickled (same interpreter).
"""

from __future__ import annotations

import pytest
from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher
from hydra.test_utils.launcher_common_tests import IntegrationTestSuite, LauncherTestSuite

from tests.integration.launcher.conftest import BUCKET, REGION, ROLE

pytestmark = pytest.mark.usefixtures("bucket")


@pytest.fixture(autouse=True)
def fresh_hydra_version_base():
    """The suites expect Hydra's default version base (1.1: jobs chdir into their dir), as
    in a fresh process; other tests in the session may have set 1.3 (``version_base=``)."""
    from hydra.core.singleton import Singleton
    from hydra.version import VersionBase

    saved = Singleton._instances.pop(VersionBase, None)
    yield
    if saved is not None:
        VersionBase.set_instance(saved)


SUITE_OVERRIDES = [
    f"hydra.launcher.role={ROLE}",
    f"hydra.launcher.bucket={BUCKET}",
    f"hydra.launcher.region={REGION}",
    "hydra.launcher.instance_type=ml.m5.xlarge",
    "hydra.launcher.image_uri=763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.8.0-cpu-py312",
]


def test_hydra_discovers_both_launchers() -> None:
    names = {p.__name__ for p in Plugins.instance().discover(Launcher)}
    assert {"SageMakerLauncher", "SageMakerLocalLauncher"} <= names


@pytest.mark.parametrize(("launcher_name", "overrides"), [("sagemaker_local", SUITE_OVERRIDES)])
class TestSageMakerLocalLauncher(LauncherTestSuite):
    pass


@pytest.mark.parametrize(
    ("task_launcher_cfg", "extra_flags"),
    [({}, ["-m", "hydra/launcher=sagemaker_local", *SUITE_OVERRIDES])],
)
class TestSageMakerLocalLauncherIntegration(IntegrationTestSuite):
    pass
