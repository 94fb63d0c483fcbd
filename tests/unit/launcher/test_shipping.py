"""What a job ships (source tarball, requirements) and which image runs it."""

from __future__ import annotations

import io
import sys
import tarfile

import pytest
from hydra_plugins.segtrain_sagemaker import _bundle, _entry

from segtrain.errors import LaunchError


def names(framework: str) -> set[str]:
    return {
        line.split("=")[0].split("<")[0].split(">")[0] for line in _bundle.requirements(framework)
    }


def test_torch_jobs_install_segtrain_deps_and_lightning_but_not_torch():
    reqs = names("torch")
    assert {"hydra-core", "omegaconf", "albumentations", "lightning"} <= reqs
    assert not reqs & {"torch", "torchvision", "tensorflow-cpu", "sagemaker", "pytest"}


def test_keras_jobs_get_neither_lightning_nor_a_second_tensorflow():
    reqs = names("keras")
    assert "hydra-core" in reqs
    assert not reqs & {"lightning", "torch", "tensorflow-cpu"}


def test_the_source_tarball_has_package_configs_plugin_entry_and_requirements():
    data = _bundle.source_tarball("torch")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = set(tar.getnames())
        entry = tar.extractfile("sm_entry.py").read().decode()
        reqs = tar.extractfile("segtrain-requirements.txt").read().decode().split()
    assert {
        "segtrain/train.py",
        "segtrain/cli.py",
        "configs/train.yaml",
        "configs/hardware/ml_p4d_24xlarge.yaml",
        "hydra_plugins/segtrain_sagemaker/_remote.py",
        "sm_entry.py",
        "segtrain-requirements.txt",
    } <= members
    assert not any("__pycache__" in m or m.endswith(".pyc") for m in members)
    assert "hydra_plugins/__init__.py" not in members  # a namespace package
    assert "from hydra_plugins.segtrain_sagemaker._remote import main" in entry
    assert reqs == _bundle.requirements("torch")


def test_the_source_tarball_is_deterministic():
    assert _bundle.source_tarball("torch") == _bundle.source_tarball("torch")


def test_the_entry_point_installs_only_what_is_missing():
    import hydra

    ok = f"hydra-core=={hydra.__version__}"
    assert _entry.missing_requirements([ok, "omegaconf>=2.3"]) == []
    assert _entry.missing_requirements(["hydra-core==0.0.1"]) == ["hydra-core==0.0.1"]
    assert _entry.missing_requirements(["no-such-package-segtrain-xyz"]) == [
        "no-such-package-segtrain-xyz"
    ]


def test_the_launcher_never_imports_a_framework():
    import subprocess

    code = (
        "import sys\n"
        "from hydra_plugins.segtrain_sagemaker import launcher, _core, _core_aws, _local, _remote, _validate\n"
        "bad = {'torch', 'tensorflow', 'lightning', 'keras'} & set(sys.modules)\n"
        "bad |= {m for m in sys.modules if m.startswith('segtrain.engines.')}\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("framework", "instance", "expected"),
    [
        ("torch", "ml.g5.xlarge", ("pytorch-training", "-gpu-")),
        ("torch", "ml.m5.xlarge", ("pytorch-training", "-cpu-")),
        ("keras", "ml.p4d.24xlarge", ("tensorflow-training", "-gpu-")),
    ],
)
def test_the_image_is_the_dlc_for_framework_and_instance(framework, instance, expected):
    from hydra_plugins.segtrain_sagemaker._images import retrieve_image

    uri = retrieve_image(framework, instance, "eu-central-1")
    assert uri.startswith("763104351884.dkr.ecr.eu-central-1.amazonaws.com/")
    assert all(part in uri for part in expected)


def test_an_unknown_framework_or_version_is_a_launch_error():
    from hydra_plugins.segtrain_sagemaker._images import retrieve_image

    with pytest.raises(LaunchError, match="image_uri"):
        retrieve_image("jax", "ml.g5.xlarge", "us-east-1")
    with pytest.raises(LaunchError, match="framework_version"):
        retrieve_image("torch", "ml.g5.xlarge", "us-east-1", version="0.1")
