"""Run in a subprocess by test_parallel.py: the Keras engine's strategies on logical CPUs.

TensorFlow fixes its logical devices when its runtime starts, so none of this can run in
the pytest process. ``python strategy_check.py <mirrored|model_parallel|worker> <out>``
writes its findings to ``<out>/<mode>[-<worker>].json`` (and weights to ``.npz``).

- mirrored: one DistributedLoop step == one single-device step on the same global batch
  (a small conv/BN model with synchronised BatchNorm: per-replica batch statistics would
  differ from the global batch's); ENet (BatchNorm per replica, the preset's default)
  trains a few steps and every replica holds identical variables; validation under
  the strategy gives the single-process confusion matrix / mIoU on the same weights;
- model_parallel: SplitENet over two logical CPUs: where variables and optimizer slots
  live, and the loss over a few model.fit steps;
- worker: one worker of a MultiWorkerMirroredStrategy job (TF_CONFIG from the test).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf
from omegaconf import OmegaConf

from segtrain.config import HardwareConfig, ModelConfig, TrainerConfig
from segtrain.engines.keras_engine.cluster import resolve_cluster
from segtrain.engines.keras_engine.distributed import DistributedLoop, distribute_dataset
from segtrain.engines.keras_engine.hardware import build_strategy, synchronize_batchnorm
from segtrain.engines.keras_engine.losses import MaskedSparseCrossEntropy
from segtrain.engines.keras_engine.optim import build_optimizer
from segtrain.metrics import confusion_matrix, scores_from_confusion
from segtrain.models.enet import build_enet
from segtrain.models.enet_split import SplitENet, copy_weights_by_layer
from segtrain.runtime.env import RunContext

C, IGNORE, SIZE = 4, 255, 32


def cfg(parallelism: str, devices: int = 1, nodes: int = 1, stage_devices=()):
    return OmegaConf.create(
        {
            "trainer": OmegaConf.structured(
                TrainerConfig(
                    parallelism=parallelism, stage_devices=list(stage_devices), max_epochs=1
                )
            ),
            "hardware": OmegaConf.structured(
                HardwareConfig(accelerator="cpu", devices=devices, nodes=nodes)
            ),
            "model": OmegaConf.structured(ModelConfig(scheduler="none", lr=1e-3)),
        }
    )


def data(seed: int, n: int):
    """Images whose class is readable from the pixels (so the loss can fall), some void."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, size=(n, SIZE // 8, SIZE // 8)).repeat(8, 1).repeat(8, 2)
    x = np.eye(3, C, dtype="float32").T[y] + rng.normal(0, 0.3, (n, SIZE, SIZE, 3))
    y = y.astype("int64")
    y[:, :2] = IGNORE
    return x.astype("float32"), y


def distribute(strategy, x, y, batch, workers: int = 1):
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).repeat()
    return distribute_dataset(strategy, ds, workers)


def compiled(strategy, make, optimizer, sync_bn: bool = False):
    with strategy.scope():
        model = make()
        if sync_bn and strategy.num_replicas_in_sync > 1:
            synchronize_batchnorm(model)
        model.compile(optimizer=optimizer(), loss=MaskedSparseCrossEntropy(C, IGNORE))
    return model


def loop_for(strategy, model):
    return DistributedLoop(strategy, model, model.loss, C, IGNORE)


def tiny_model() -> keras.Model:
    inputs = keras.Input((None, None, 3))
    hidden = keras.layers.Conv2D(8, 3, padding="same", use_bias=False)(inputs)
    hidden = keras.layers.ReLU()(keras.layers.BatchNormalization()(hidden))
    return keras.Model(inputs, keras.layers.Conv2D(C, 1)(hidden))


def single_confusion(model: keras.Model, x, y) -> np.ndarray:
    plain = build_enet(C)
    copy_weights_by_layer(model, plain)
    pred = np.argmax(plain.predict(x, batch_size=4, verbose=0), axis=-1)
    return confusion_matrix(y, pred, C, IGNORE)


def weights_of(model: keras.Model) -> dict[str, np.ndarray]:
    return {f"{i}:{v.path}": np.asarray(v.numpy()) for i, v in enumerate(model.weights)}


def mirrored(out: Path) -> dict:
    strategy = build_strategy(cfg("data_parallel", devices=2))
    single = tf.distribute.get_strategy()
    found: dict = {"replicas": int(strategy.num_replicas_in_sync)}

    # 1) one step on one global batch: 2 replicas == 1 device (SGD, synced BatchNorm)
    keras.utils.set_random_seed(0)
    init = tiny_model().get_weights()
    x, y = data(1, 4)
    x[0, :, :5] = 0  # replicas hold different numbers of void pixels
    y[0, :, :5] = IGNORE
    after = []
    for s in (single, strategy):
        model = compiled(s, tiny_model, lambda: keras.optimizers.SGD(0.5), sync_bn=True)
        model.set_weights(init)
        loop_for(s, model).train_pass(distribute(s, x, y, 4), 1)
        after.append(model.get_weights())
    found["step_max_diff"] = max(float(np.abs(a - b).max()) for a, b in zip(*after, strict=True))
    found["step_max_change"] = max(
        float(np.abs(a - b).max()) for a, b in zip(init, after[0], strict=True)
    )

    # 2) ENet trains a few steps; every replica holds the same variables
    keras.utils.set_random_seed(1)
    enet = compiled(strategy, lambda: build_enet(C), lambda: keras.optimizers.Adam(1e-3))
    loop = loop_for(strategy, enet)
    tx, ty = data(2, 8)
    losses = [loop.train_pass(distribute(strategy, tx, ty, 4), 2).loss for _ in range(3)]
    spread, devices = 0.0, set()
    for var in enet.weights + enet.optimizer.variables:
        values = var.value.values
        devices.update(v.device for v in values)
        spread = max(spread, *(float(np.abs(v.numpy() - values[0].numpy()).max()) for v in values))
    found.update(losses=losses, replica_spread=spread, replica_devices=sorted(devices))

    # 3) validation: summed confusion matrices == one process on the same weights
    vx, vy = data(3, 6)  # 6 = one full batch of 4 + one of 2 (1 per replica)
    scored = loop.evaluate(distribute(strategy, vx, vy, 4), 2)
    reference = single_confusion(enet, vx, vy)
    found["confusion_equal"] = bool((scored.confusion == reference).all())
    found["pixels"] = int(scored.confusion.sum())
    found["mIoU_parallel"] = scores_from_confusion(scored.confusion).mIoU
    found["mIoU_single"] = scores_from_confusion(reference).mIoU
    return found


def model_parallel(out: Path) -> dict:
    config = cfg("model_parallel", devices=2)
    build_strategy(config)  # splits the CPU into 2 logical devices
    from segtrain.engines.keras_engine.placement import stage_devices

    devices = stage_devices(config, "cpu")
    keras.utils.set_random_seed(0)
    model = SplitENet(C, devices)
    model.compile(
        optimizer=build_optimizer(config, 4, 1, colocate_slots=True),
        loss=MaskedSparseCrossEntropy(C, IGNORE),
    )
    x, y = data(4, 8)
    history = model.fit(x, y, batch_size=4, epochs=4, shuffle=False, verbose=0)
    by_stage = {}
    for stage, sub in zip(devices, model.stages, strict=True):
        by_stage[stage] = sorted({v.value.device for v in sub.weights})
    slots = sorted({v.value.device for v in model.optimizer.variables if "kernel" in v.path})
    return {
        "devices": devices,
        "variable_devices": by_stage,
        "slot_devices": slots,
        "losses": [float(v) for v in history.history["loss"]],
    }


def worker(out: Path) -> dict:
    """One MWMS worker: sharded data, a few steps, weights + validation confusion saved."""
    ctx = RunContext.detect({})
    config = cfg("data_parallel", devices=1, nodes=2)
    cluster = resolve_cluster(config, ctx)
    strategy = build_strategy(config, cluster)
    keras.utils.set_random_seed(5)  # the same initial weights on every worker
    enet = compiled(strategy, lambda: build_enet(C), lambda: keras.optimizers.Adam(1e-3))
    loop = loop_for(strategy, enet)
    x, y = data(6, 8)
    mine = slice(cluster.index, None, cluster.num_workers)  # disjoint shards
    train = distribute(strategy, x[mine], y[mine], 2, cluster.num_workers)
    losses = [loop.train_pass(train, 2).loss for _ in range(2)]
    vx, vy = data(7, 5)  # 3 + 2 samples: the shorter shard is padded with a void sample
    sx, sy = vx[mine], vy[mine]
    if len(sx) < 3:
        sx = np.concatenate([sx, np.zeros_like(sx[:1])])
        sy = np.concatenate([sy, np.full_like(sy[:1], IGNORE)])
    scored = loop.evaluate(distribute(strategy, sx, sy, 3, cluster.num_workers), 1)
    reference = single_confusion(enet, vx, vy)
    tag = f"worker{cluster.index}"
    np.savez(out / f"{tag}.npz", **weights_of(enet))
    return {
        "tag": tag,
        "is_chief": cluster.is_chief,
        "replicas": int(strategy.num_replicas_in_sync),
        "losses": losses,
        "confusion_equal": bool((scored.confusion == reference).all()),
        "mIoU_parallel": scores_from_confusion(scored.confusion).mIoU,
        "mIoU_single": scores_from_confusion(reference).mIoU,
    }


def main() -> None:
    mode, out = sys.argv[1], Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    found = {"mirrored": mirrored, "model_parallel": model_parallel, "worker": worker}[mode](out)
    name = found.get("tag", mode)
    (out / f"{name}.json").write_text(json.dumps(found, indent=1))
    print(json.dumps(found), flush=True)


if __name__ == "__main__":
    main()
