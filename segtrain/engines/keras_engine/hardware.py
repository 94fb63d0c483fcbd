"""hardware + trainer config -> TensorFlow runtime: threads, precision, strategy.

Everything that builds variables (model, optimiser, metrics) happens under
``strategy.scope()``; :func:`build_strategy` picks the strategy for
``trainer.parallelism``.
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

from segtrain.engines.keras_engine.cluster import Cluster
from segtrain.engines.keras_engine.devices import local_devices
from segtrain.engines.keras_engine.placement import stage_devices
from segtrain.errors import ConfigError
from segtrain.runtime.precision import resolve_precision

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
    override = cfg.model.cpu_precision
    if device == "cpu" and override is not None and str(override) != precision:
        log.info(
            "hardware.precision=%s replaced by model.cpu_precision=%s on CPU "
            "(set model.cpu_precision=null to keep it)",
            precision,
            override,
        )
        precision = str(override)
    precision = resolve_precision(precision, device, _gpu_supports_bf16)
    if precision not in POLICIES:
        raise ConfigError(
            f"precision {precision!r} is not supported by the Keras engine; expected one "
            f"of {sorted(POLICIES)}"
        )
    if precision == "16-mixed" and device == "cpu":
        raise ConfigError("precision 16-mixed needs a GPU; on CPU use 32 or bf16-mixed")
    return POLICIES[precision]


def _gpu_supports_bf16() -> bool:
    """bf16 tensor cores: compute capability 8.0 (Ampere) or newer on the first GPU."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return False
    capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
    return bool(capability) and tuple(capability) >= (8, 0)


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
    threads = cfg.hardware.num_threads
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
    if not cfg.hardware.compile:
        return False
    raise ConfigError(
        "hardware.compile=true asks for XLA, which cannot compile ENet: "
        "tf.nn.max_pool_with_argmax (the pooling whose indices the decoder unpools "
        "with) has no XLA kernel; set hardware.compile=false"
    )


def batchnorm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """Every BatchNormalization layer of ``model``, nested models included."""
    found = []
    pending = list(model.layers)
    while pending:
        layer = pending.pop()
        if isinstance(layer, keras.Model):
            pending.extend(layer.layers)
        elif isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
    return found


def batchnorm_statistics(model: keras.Model) -> list[keras.Variable]:
    """The moving means and variances of every BatchNormalization layer of ``model``."""
    return [
        variable
        for layer in batchnorm_layers(model)
        for variable in (layer.moving_mean, layer.moving_variance)
    ]


def synchronize_batchnorm(model: keras.Model) -> int:
    """Make every BatchNormalization layer compute its statistics across all replicas.

    Under MirroredStrategy each replica would otherwise normalise with its own slice of the
    batch and keep its own moving statistics: the replicas drift apart, validation scores
    a mixture of them, and the saved model (their average) is none of them. Synchronised,
    a data-parallel step equals a single-device step on the global batch (a test checks
    it). Keras reads the flag at call time; it is not part of the exported model.

    Opt-in (``trainer.sync_batchnorm=true``), as in the torch engine: TensorFlow traces
    every synchronised layer's all-reduce with a custom gradient whose graph walk spans
    the other replicas' graph, so tracing grows with the square of the layer count; with
    ENet's 90 BatchNorm layers over 2 logical CPUs the first step's trace did not finish
    within 10 minutes here. Without it, each replica normalises with its own batch and
    the moving statistics are averaged across replicas after every step
    (:class:`~segtrain.engines.keras_engine.distributed.DistributedLoop`).
    """
    layers = batchnorm_layers(model)
    for layer in layers:
        layer.synchronized = True
    return len(layers)


def build_strategy(cfg: DictConfig, cluster: Cluster | None = None) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy for ``trainer.parallelism`` (call it first: on CPU it
    splits the device into logical ones, which only works before the runtime starts).

    - ``single``: the default strategy (one device);
    - ``data_parallel``, one worker: ``MirroredStrategy`` over ``hardware.devices`` local
      devices (GPUs, or logical CPUs; on CPU the reduction goes through one device, NCCL
      being GPU-only);
    - ``data_parallel``, several workers (``cluster``): ``MultiWorkerMirroredStrategy``,
      one worker process per node driving that node's GPUs (on CPU, one replica per
      worker: TensorFlow's multi-worker strategy mirrors only over GPUs);
    - ``model_parallel``: the default strategy; the ENet stages are placed on devices
      (:mod:`segtrain.engines.keras_engine.placement`), whose logical CPUs are made here.

    Both data-parallel strategies train with the engine's own distributed step
    (:mod:`segtrain.engines.keras_engine.distributed`), not ``model.fit``.
    """
    parallelism = str(cfg.trainer.parallelism)
    if parallelism not in PARALLELISMS:
        raise ConfigError(f"trainer.parallelism={parallelism!r}; expected one of {PARALLELISMS}")
    cluster = cluster or Cluster()
    world = int(cfg.hardware.devices) * int(cfg.hardware.nodes)
    if parallelism == "single":
        if world > 1 or cluster.multi_worker:
            raise ConfigError(
                f"trainer=single runs one process, but hardware asks for {world} devices; "
                "use trainer=data_parallel or trainer=model_parallel"
            )
        return tf.distribute.get_strategy()
    if parallelism == "model_parallel":
        if int(cfg.hardware.nodes) > 1 or cluster.multi_worker:
            raise ConfigError(
                "trainer=model_parallel places ENet's stages on the devices of one machine; "
                "hardware.nodes > 1 (or a multi-worker TF_CONFIG) is not supported with it"
            )
        devices = stage_devices(cfg, accelerator(cfg))
        log.info("ENet stages on %s", ", ".join(f"{k}={v}" for k, v in devices.items()))
        return tf.distribute.get_strategy()
    if cluster.multi_worker:
        return _multi_worker_strategy(cfg, cluster)
    devices = local_devices(accelerator(cfg), int(cfg.hardware.devices))
    reduce = (
        tf.distribute.ReductionToOneDevice(reduce_to_device=devices[0])
        if devices[0].startswith("/CPU")
        else None
    )
    strategy = tf.distribute.MirroredStrategy(devices, cross_device_ops=reduce)
    log.info("MirroredStrategy over %s", ", ".join(devices))
    return strategy


def _multi_worker_strategy(
    cfg: DictConfig, cluster: Cluster
) -> tf.distribute.MultiWorkerMirroredStrategy:
    """``MultiWorkerMirroredStrategy`` from ``TF_CONFIG`` (exported by resolve_cluster)."""
    per_node = int(cfg.hardware.devices)
    if accelerator(cfg) == "gpu":
        found = tf.config.list_physical_devices("GPU")
        if per_node > len(found):
            raise ConfigError(f"hardware.devices={per_node} but this node has {len(found)} GPU(s)")
        tf.config.set_visible_devices(found[:per_node], "GPU")
        implementation = tf.distribute.experimental.CommunicationImplementation.AUTO
    else:
        if per_node != 1:
            raise ConfigError(
                f"hardware.devices={per_node} with hardware.nodes={cluster.num_workers} on CPU: "
                "TensorFlow's MultiWorkerMirroredStrategy runs one CPU replica per worker; "
                "set hardware.devices=1 (one worker process per node)"
            )
        implementation = tf.distribute.experimental.CommunicationImplementation.RING
    strategy = tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=tf.distribute.experimental.CommunicationOptions(
            implementation=implementation
        )
    )
    log.info(
        "MultiWorkerMirroredStrategy: worker %d of %d (%s), %d replicas in sync",
        cluster.index,
        cluster.num_workers,
        "chief" if cluster.is_chief else "not chief",
        strategy.num_replicas_in_sync,
    )
    return strategy
