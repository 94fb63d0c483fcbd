"""Which AWS Deep Learning Container runs a job: chosen by ``model.framework`` and instance.

Uses the SageMaker Python SDK v3's ``image_uris.retrieve``, which reads the image
registry shipped inside the SDK (no network). ``torch`` models get the PyTorch training
DLC, ``keras`` models the TensorFlow one (Keras 3 ships with TensorFlow >= 2.16). The
framework version defaults to the newest one the installed SDK lists, so upgrading the
SDK moves jobs to newer images; ``hydra.launcher.framework_version`` pins it and
``hydra.launcher.image_uri`` replaces the lookup entirely.
"""

from __future__ import annotations

from functools import cache

from segtrain.errors import LaunchError

#: model.framework -> the SDK's framework key
DLC_FRAMEWORKS = {"torch": "pytorch", "keras": "tensorflow"}


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
    try:
        sdk_framework = DLC_FRAMEWORKS[framework]
    except KeyError:
        raise LaunchError(
            f"model.framework={framework!r} has no SageMaker image; expected one of "
            f"{sorted(DLC_FRAMEWORKS)} (or set hydra.launcher.image_uri)"
        ) from None
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
