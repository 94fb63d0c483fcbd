"""hardware + trainer config -> TensorFlow runtime: threads, precision, strategy.

Everything that builds variables (model, optimiser, metrics) happens under
``strategy.scope()``; issue 4 trains with the default (single-device) strategy, and
the distributed strategies plug in here.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import tensorflow as tf
from omegaconf import DictConfig

from segtrain.errors import ConfigError

log = logging.getLogger(__name__)

#: hardware.precision -> Keras dtype policy
POLICIES = {
    "32": "float32",
    "32-true": "float32",
    "bf16-mixed": "mixed_bfloat16",
    "16-mixed": "mixed_float16",
}
PARALLELISMS = ("single", "data_parallel", "model_parallel")


def accelerator(cfg: DictConfig) -> str:
    """``cpu`` or ``gpu`` (``auto``: gpu when TensorFlow sees one)."""
    name = str(cfg.hardware.accelerator)
    gpus = tf.config.list_physical_devices("GPU")
    if name == "auto":
        return "gpu" if gpus else "cpu"
    if name == "gpu" and not gpus:
        raise ConfigError(
            "hardware.accelerator=gpu but TensorFlow sees no GPU (tensorflow-cpu is "
            "installed, or no CUDA device is visible); use hardware=cpu"
        )
    if name not in ("cpu", "gpu"):
        raise ConfigError(f"hardware.accelerator={name!r}; expected cpu, gpu or auto")
    return name


def precision_policy(cfg: DictConfig) -> str:
    """The Keras dtype policy for this run.

    On CPU ``model.cpu_precision`` (when set) wins over ``hardware.precision``: the
    hardware presets are tuned for the torch engine, where bf16 autocast is faster on
    this CPU, while Keras' mixed_bfloat16 ENet step measured 4.4x slower than float32.
    """
    precision = str(cfg.hardware.precision)
    device = accelerator(cfg)
    override = cfg.model.get("cpu_precision")
    if device == "cpu" and override is not None and str(override) != precision:
        log.info(
            "hardware.precision=%s replaced by model.cpu_precision=%s on CPU "
            "(set model.cpu_precision=null to keep it)",
            precision,
            override,
        )
        precision = str(override)
    if precision not in POLICIES:
        raise ConfigError(
            f"precision {precision!r} is not supported by the Keras engine; expected one "
            f"of {sorted(POLICIES)}"
        )
    if precision == "16-mixed" and device == "cpu":
        raise ConfigError("precision 16-mixed needs a GPU; on CPU use 32 or bf16-mixed")
    return POLICIES[precision]


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Set Keras' global dtype policy for a block (it is process-wide state)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def configure_threads(cfg: DictConfig) -> None:
    """hardware.num_threads -> TensorFlow's intra-op pool (before the runtime starts)."""
    threads = cfg.hardware.get("num_threads")
    if not threads:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
    except RuntimeError:  # the runtime is already initialised in this process
        log.warning("hardware.num_threads=%s ignored: TensorFlow already started", threads)


def jit_compile(cfg: DictConfig) -> bool:
    """hardware.compile -> Keras ``jit_compile`` (XLA); ENet cannot use it.

    Measured: XLA refuses the graph (``MaxPoolWithArgmax`` has no XLA_CPU_JIT kernel),
    so the option fails loudly here instead of deep inside the first step.
    """
    if not cfg.hardware.get("compile", False):
        return False
    raise ConfigError(
        "hardware.compile=true asks for XLA, which cannot compile ENet: "
        "tf.nn.max_pool_with_argmax (the pooling whose indices the decoder unpools "
        "with) has no XLA kernel; set hardware.compile=false"
    )


def build_strategy(cfg: DictConfig) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy for ``trainer.parallelism``."""
    parallelism = str(cfg.trainer.parallelism)
    if parallelism not in PARALLELISMS:
        raise ConfigError(f"trainer.parallelism={parallelism!r}; expected one of {PARALLELISMS}")
    world = int(cfg.hardware.devices) * int(cfg.hardware.nodes)
    if parallelism == "single":
        if world > 1:
            raise ConfigError(
                f"trainer=single runs one process, but hardware asks for {world} devices; "
                "use trainer=data_parallel or trainer=model_parallel"
            )
        return tf.distribute.get_strategy()
    raise NotImplementedError(
        f"trainer.parallelism={parallelism} is not implemented for the Keras engine yet "
        "(MirroredStrategy / MultiWorkerMirroredStrategy and the stage->device split are "
        "planned); use trainer=single"
    )
