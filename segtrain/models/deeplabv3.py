"""DeepLabV3 (Chen et al., arXiv 1706.05587) from torchvision, never downloading weights.

torchvision's builders are called with ``weights=None`` and ``weights_backbone=None``;
pretrained weights come only from a local file (or a URI fetched by
:mod:`segtrain.data.storage`) that the user names:

- ``model.pretrained_backbone``: an ImageNet classification state_dict for the backbone
  (torchvision's ``mobilenet_v3_large``/``resnet50``/``resnet101`` files work as they are);
- ``model.pretrained_weights``: a full segmentation state_dict (e.g. torchvision's COCO
  DeepLabV3). A classifier head with another number of classes is re-initialised, with a
  log line saying so; any other mismatch is an error naming the keys.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models import segmentation as tvseg

from segtrain.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)

BUILDERS = {
    "mobilenet_v3_large": tvseg.deeplabv3_mobilenet_v3_large,
    "resnet50": tvseg.deeplabv3_resnet50,
    "resnet101": tvseg.deeplabv3_resnet101,
}
# prefixes of head parameters whose shape depends on num_classes
HEAD_KEYS = ("classifier.4.", "aux_classifier.4.")


def build_deeplabv3(model_cfg: Mapping[str, Any], num_classes: int) -> nn.Module:
    """torchvision DeepLabV3 for ``num_classes`` with optional local weights."""
    backbone = str(model_cfg.get("backbone", "mobilenet_v3_large"))
    if backbone not in BUILDERS:
        raise ConfigError(
            f"model.backbone={backbone!r} is not supported; expected one of {sorted(BUILDERS)}"
        )
    if num_classes < 2:
        raise ConfigError(f"num_classes={num_classes}: a segmentation model needs at least 2")
    model = BUILDERS[backbone](
        weights=None,
        weights_backbone=None,
        num_classes=num_classes,
        aux_loss=bool(model_cfg.get("aux_loss", False)),
    )
    set_bn_momentum(model, model_cfg.get("bn_momentum"))
    if src := model_cfg.get("pretrained_backbone"):
        load_backbone_weights(model, src, backbone)
    if src := model_cfg.get("pretrained_weights"):
        load_segmentation_weights(model, src)
    return model


def set_bn_momentum(model: nn.Module, momentum: float | None) -> None:
    """Give every BatchNorm layer ``momentum`` (``None``: keep the builder's).

    torchvision's MobileNetV3 uses 0.01, tuned for long ImageNet schedules. Trained from
    scratch for a few hundred steps its running statistics barely leave their initial
    values (mean 0, variance 1), so eval-mode predictions collapse to one class while the
    training loss looks fine; 0.1 (torch's default) tracks the data within a few dozen steps.
    """
    if momentum is None:
        return
    momentum = float(momentum)
    if not 0.0 < momentum <= 1.0:
        raise ConfigError(f"model.bn_momentum={momentum}; expected a value in (0, 1]")
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = momentum


def read_state_dict(src: str | Path) -> dict[str, torch.Tensor]:
    """Safely load a state_dict (``weights_only=True``) from a path or URI."""
    path = _localise(src)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"cannot read weights from {path}: {err}") from None
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} does not hold a state_dict (a mapping of name -> tensor)")
    return dict(obj)


def _localise(src: str | Path) -> Path:
    text = str(src)
    if "://" in text:
        from segtrain.data import storage

        return storage.fetch_to_cache(text)
    path = Path(text).expanduser()
    if not path.is_file():
        raise CheckpointError(f"weights file {path} does not exist")
    return path


def load_backbone_weights(model: nn.Module, src: str | Path, backbone: str) -> None:
    state = read_state_dict(src)
    # classification checkpoints: mobilenet keeps its convs under "features.", resnets at
    # the top level; the segmentation backbone drops the classifier ("fc.", "classifier.")
    remapped: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        key = key.removeprefix("backbone.")
        if backbone.startswith("mobilenet"):
            if not key.startswith("features."):
                continue
            key = key.removeprefix("features.")
        elif key.startswith("fc."):
            continue
        remapped[key] = value
    result = model.backbone.load_state_dict(remapped, strict=False)
    if result.missing_keys:
        raise CheckpointError(
            f"{src} does not match the {backbone} backbone: missing {len(result.missing_keys)} "
            f"keys (e.g. {result.missing_keys[:3]})"
        )
    log.info("Loaded %s backbone weights from %s", backbone, src)


def load_segmentation_weights(model: nn.Module, src: str | Path) -> None:
    state = read_state_dict(src)
    own = model.state_dict()
    reinit = [
        k
        for k, v in state.items()
        if k.startswith(HEAD_KEYS) and k in own and own[k].shape != v.shape
    ]
    for key in reinit:
        del state[key]
    if not any(k.startswith("aux_classifier.") for k in own):
        state = {k: v for k, v in state.items() if not k.startswith("aux_classifier.")}
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if k not in reinit]
    if missing or result.unexpected_keys:
        raise CheckpointError(
            f"{src} does not match this DeepLabV3: missing {missing[:3]}, "
            f"unexpected {result.unexpected_keys[:3]}"
        )
    if reinit:
        log.info("Classifier head re-initialised for this number of classes: %s", reinit)
    log.info("Loaded DeepLabV3 weights from %s", src)
