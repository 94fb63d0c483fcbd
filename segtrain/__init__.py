"""segtrain: config-driven semantic segmentation training (DeepLabV3 with Lightning, ENet
with Keras), local or on SageMaker. ``segtrain --help`` lists the commands."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("segtrain")
except PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "0+unknown"
