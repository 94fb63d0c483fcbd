"""DeepLabV3 builder: torchvision's model, local weights only, BatchNorm momentum from config."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from segtrain.errors import CheckpointError, ConfigError
from segtrain.models.deeplabv3 import build_deeplabv3


def _bn_momenta(model: nn.Module) -> set[float]:
    return {m.momentum for m in model.modules() if isinstance(m, nn.BatchNorm2d)}


def test_output_has_one_channel_per_class_at_input_resolution():
    model = build_deeplabv3({"backbone": "mobilenet_v3_large"}, num_classes=5).eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 64, 96))["out"]
    assert out.shape == (1, 5, 64, 96)


def test_bn_momentum_overrides_torchvisions_slow_mobilenet_default():
    # torchvision's MobileNetV3 ships 0.01 for its backbone; from scratch that leaves the
    # running statistics near their initial values and eval-mode output collapses
    assert 0.01 in _bn_momenta(build_deeplabv3({}, num_classes=3))
    assert _bn_momenta(build_deeplabv3({"bn_momentum": 0.1}, num_classes=3)) == {0.1}


@pytest.mark.parametrize("bad", [0.0, 1.5, -0.1])
def test_bn_momentum_out_of_range_is_a_config_error(bad):
    with pytest.raises(ConfigError, match=r"model\.bn_momentum"):
        build_deeplabv3({"bn_momentum": bad}, num_classes=3)


def test_unknown_backbone_names_the_choices():
    with pytest.raises(ConfigError, match="mobilenet_v3_large"):
        build_deeplabv3({"backbone": "vgg16"}, num_classes=3)


def test_missing_weights_file_is_named(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(CheckpointError, match=r"nope\.pth"):
        build_deeplabv3({"pretrained_weights": str(missing)}, num_classes=3)


def test_segmentation_weights_load_from_a_local_file(tmp_path):
    source = build_deeplabv3({}, num_classes=3)
    path = tmp_path / "weights.pth"
    torch.save(source.state_dict(), path)
    loaded = build_deeplabv3({"pretrained_weights": str(path)}, num_classes=3)
    for key, value in source.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
