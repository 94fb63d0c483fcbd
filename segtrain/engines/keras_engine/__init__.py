"""Keras 3 engine (ENet) on the TensorFlow backend.

Never imports torch: importing TensorFlow before triton segfaults, so the two
frameworks live in separate processes (the engine is loaded lazily by
``model.framework``).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from segtrain.engines.keras_engine.engine import KerasEngine

ENGINE = KerasEngine()

__all__ = ["ENGINE", "KerasEngine"]
