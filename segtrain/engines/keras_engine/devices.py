"""Local devices for the distributed presets: GPUs, or logical devices carved from the CPU.

TensorFlow sees one CPU device however many cores there are. Splitting it into logical
devices (``tf.config.set_logical_device_configuration``) gives each its own executor, so
mirrored replicas or model stages can live on "different devices" of a CPU-only machine,
as TensorFlow's own multi-device tests do. The split is fixed when the runtime starts:
this must run before anything executes a TensorFlow op in the process.
"""

from __future__ import annotations

import logging
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import tensorflow as tf

from segtrain.errors import ConfigError

log = logging.getLogger(__name__)


def logical_cpus(count: int) -> list[str]:
    """``/CPU:0 .. /CPU:count-1``, splitting the physical CPU into ``count`` logical ones."""
    if count < 1:
        raise ConfigError(f"{count} devices requested; expected at least 1")
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is None or len(current) < count:
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
            )
        except RuntimeError:  # the runtime already started with another split
            have = len(tf.config.list_logical_devices("CPU"))
            if have < count:
                raise ConfigError(
                    f"{count} logical CPU devices are needed, but TensorFlow already started "
                    f"with {have} in this process (the split must happen before any "
                    "TensorFlow op runs)"
                ) from None
    return [f"/CPU:{i}" for i in range(count)]


def gpus(count: int) -> list[str]:
    """``/GPU:0 .. /GPU:count-1``, failing clearly when fewer GPUs are visible."""
    found = tf.config.list_physical_devices("GPU")
    if count > len(found):
        raise ConfigError(f"{count} GPU(s) requested but TensorFlow sees {len(found)}")
    return [f"/GPU:{i}" for i in range(count)]


def local_devices(kind: str, count: int) -> list[str]:
    """``count`` devices of ``kind`` (``cpu``: logical CPUs, ``gpu``: physical GPUs)."""
    return gpus(count) if kind == "gpu" else logical_cpus(count)
