"""What runs a job: the container for ``model.framework``, its image, the instance's facts.

:data:`CONTAINERS` is the one framework -> container table: which AWS Deep Learning
Container (the SDK's framework key), which segtrain extra the job installs on top, and
how the container starts several processes. ``torch`` models get the PyTorch training
DLC, ``keras`` models the TensorFlow one (Keras 3 ships with TensorFlow >= 2.16).

Images come from the SageMaker Python SDK v3's ``image_uris.retrieve``, which reads the
image registry shipped inside the SDK (no network). The framework version defaults to
the newest one the installed SDK lists, so upgrading the SDK moves jobs to newer images;
``hydra.launcher.framework_version`` pins it and ``hydra.launcher.image_uri`` replaces
the lookup entirely. Instance facts (valid training instance types, GPUs per instance)
are read offline too: from botocore's service model and the SDK's GPU table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from segtrain.errors import LaunchError


@dataclass(frozen=True)
class Container:
    """How one ``model.framework`` runs on SageMaker."""

    sdk_framework: str  # image_uris key of its Deep Learning Container
    extra: str  # segtrain's pyproject extra the job installs (minus the framework)
    #: hyperparameter that makes the container start one process per device / instance
    launcher_flag: str
    #: whether a parallel trainer needs that launcher on a single instance too (torchrun:
    #: one process per GPU) or only across instances (Keras: MirroredStrategy in-process)
    flag_on_one_instance: bool
    #: whether model_parallel may span instances (Keras places stages on one's devices)
    model_parallel_across_instances: bool


CONTAINERS: dict[str, Container] = {
    "torch": Container(
        sdk_framework="pytorch",
        extra="torch",
        launcher_flag="sagemaker_torch_distributed_enabled",
        flag_on_one_instance=True,
        model_parallel_across_instances=True,
    ),
    "keras": Container(
        sdk_framework="tensorflow",
        extra="tf",
        launcher_flag="sagemaker_multi_worker_mirrored_strategy_enabled",
        flag_on_one_instance=False,
        model_parallel_across_instances=False,
    ),
}


def container(framework: str) -> Container:
    try:
        return CONTAINERS[framework]
    except KeyError:
        raise LaunchError(
            f"model.framework={framework!r} has no SageMaker container; expected one of "
            f"{sorted(CONTAINERS)} (or set hydra.launcher.image_uri)"
        ) from None


# --------------------------------------------------------------------------------------
# images


@cache
def training_versions(sdk_framework: str) -> tuple[str, ...]:
    """Framework versions with training images, oldest first, as the SDK lists them."""
    from sagemaker.core import image_uris

    config = image_uris.config_for_framework(sdk_framework)
    versions = config.get("training", config).get("versions", {})
    return tuple(versions)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))


def retrieve_image(
    framework: str, instance_type: str, region: str, version: str | None = None
) -> str:
    sdk_framework = container(framework).sdk_framework
    from sagemaker.core import image_uris

    known = training_versions(sdk_framework)
    chosen = version or max(known, key=_version_key)
    try:
        return image_uris.retrieve(
            sdk_framework,
            region=region,
            version=chosen,
            instance_type=instance_type,
            image_scope="training",
        )
    except ValueError as err:
        raise LaunchError(
            f"no {sdk_framework} {chosen} training image for {instance_type} in {region}: "
            f"{err} (known versions: {', '.join(known[-6:])}; set "
            "hydra.launcher.framework_version or hydra.launcher.image_uri)"
        ) from None


# --------------------------------------------------------------------------------------
# instances


@cache
def known_instance_types() -> frozenset[str]:
    """Instance types CreateTrainingJob accepts, from botocore's service model (offline)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return frozenset(model.shape_for("TrainingInstanceType").enum)


def gpu_count(instance_type: str, region: str = "us-east-1") -> int | None:
    """GPUs per instance from the SDK's table (read as data; None when not listed)."""
    table = _gpu_table()
    info = table.get(region) or table.get("us-east-1", {})
    entry = info.get(instance_type)
    return int(entry["Count"]) if entry else None


@cache
def _gpu_table() -> dict[str, Any]:
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sagemaker")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = (
        Path(next(iter(spec.submodule_search_locations)))
        / "core"
        / "image_uri_config"
        / "instance_gpu_info.json"
    )
    return json.loads(path.read_text()) if path.is_file() else {}


def is_gpu_instance(instance_type: str) -> bool:
    family = instance_type.split(".")[1] if "." in instance_type else instance_type
    return family[:1] in ("g", "p")
