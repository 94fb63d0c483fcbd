"""PyTorch Lightning engine (DeepLabV3).

Import order matters: torch, torchvision and lightning (which load triton) come before
anything that may import TensorFlow; importing TensorFlow before triton segfaults. The
TensorBoard logger is told not to import TensorFlow at all (see below).
"""

import sys
import types

import lightning  # noqa: F401  (order: see module docstring)
import torch  # noqa: F401
import torchvision  # noqa: F401

# TensorBoard writes event files without TensorFlow when its `notf` marker module exists;
# without it `torch.utils.tensorboard` imports all of TensorFlow into the torch process.
sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))

from segtrain.engines.lightning_engine.engine import LightningEngine  # noqa: E402

ENGINE = LightningEngine()

__all__ = ["ENGINE", "LightningEngine"]
