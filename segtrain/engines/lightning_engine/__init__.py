"""PyTorch Lightning engine (DeepLabV3).

Import order matters: torch, torchvision and lightning (which load triton) come before
anything that may import TensorFlow (``torch.utils.tensorboard`` does when TensorFlow is
installed); importing TensorFlow before triton segfaults.
"""

import lightning  # noqa: F401  (order: see module docstring)
import torch  # noqa: F401
import torchvision  # noqa: F401

from segtrain.engines.lightning_engine.engine import LightningEngine

ENGINE = LightningEngine()

__all__ = ["ENGINE", "LightningEngine"]
