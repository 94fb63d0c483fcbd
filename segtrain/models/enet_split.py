"""ENet split into its stages, each stage's variables and ops on its own device.

Model parallelism for the Keras engine (``trainer=model_parallel``). Every stage of
:data:`segtrain.models.enet.STAGES` is a small functional model built by the same stage
function as the one-graph ENet (same layers, same names, so weights move between the two
by layer name), created under ``tf.device(device)`` so its variables live there, and
called under the same device scope so its ops run there. Activations (and the argmax
indices the decoder unpools with) cross devices between stages; TensorFlow inserts the
copies. Stages run one after the other: this splits memory, not time (no pipelining).
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from collections.abc import Mapping

import keras
import tensorflow as tf

from segtrain.errors import ConfigError
from segtrain.models import enet


def _input(channels: int, name: str, dtype: str = "float32") -> keras.KerasTensor:
    return keras.Input(shape=(None, None, channels), dtype=dtype, name=name)


def _build_stage(stage: str, num_classes: int, dropout_stage1: float, dropout: float):
    if stage == "initial":
        x = _input(3, "image")
        return keras.Model(x, enet.stage_initial(x), name="enet_initial")
    if stage == "stage1":
        x = _input(16, "stage1_in")
        return keras.Model(x, list(enet.stage_1(x, dropout_stage1)), name="enet_stage1")
    if stage == "stage2":
        x = _input(64, "stage2_in")
        return keras.Model(x, list(enet.stage_2(x, dropout)), name="enet_stage2")
    if stage == "stage3":
        x = _input(128, "stage3_in")
        return keras.Model(x, enet.stage_3(x, dropout), name="enet_stage3")
    if stage == "stage4":
        x, idx = _input(128, "stage4_in"), _input(64, "stage4_indices", "int64")
        return keras.Model([x, idx], enet.stage_4(x, idx, dropout), name="enet_stage4")
    if stage == "stage5":
        x, idx = _input(64, "stage5_in"), _input(16, "stage5_indices", "int64")
        return keras.Model([x, idx], enet.stage_5(x, idx, dropout), name="enet_stage5")
    x = _input(16, "fullconv_in")
    return keras.Model(x, enet.stage_fullconv(x, num_classes), name="enet_fullconv")


class SplitENet(keras.Model):
    """ENet whose stages live (variables) and run (ops) on the given devices."""

    def __init__(
        self,
        num_classes: int,
        devices: Mapping[str, str],
        dropout_stage1: float = 0.01,
        dropout: float = 0.1,
        name: str = "enet",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        missing = [s for s in enet.STAGES if s not in devices]
        if missing:
            raise ConfigError(f"no device for ENet stage(s) {missing}")
        if num_classes < 2:
            raise ConfigError(f"num_classes={num_classes}: a segmentation model needs at least 2")
        self.num_classes = int(num_classes)
        self.devices = {s: str(devices[s]) for s in enet.STAGES}
        self.stages: list[keras.Model] = []
        for stage in enet.STAGES:
            with tf.device(self.devices[stage]):
                self.stages.append(_build_stage(stage, num_classes, dropout_stage1, dropout))
        self.built = True

    def call(self, inputs, training=None):
        def run(i: int, x):
            with tf.device(self.devices[enet.STAGES[i]]):
                return self.stages[i](x, training=training)

        x = run(0, inputs)
        x, idx1 = run(1, x)
        x, idx2 = run(2, x)
        x = run(3, x)
        x = run(4, [x, idx2])
        x = run(5, [x, idx1])
        return run(6, x)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.num_classes)

    def layer_weights(self) -> dict[str, list]:
        """Weights by layer name, for moving them into a one-graph ENet."""
        return {
            layer.name: layer.get_weights()
            for stage in self.stages
            for layer in stage.layers
            if layer.weights
        }


def copy_weights_by_layer(source: keras.Model, target: keras.Model) -> None:
    """Copy every weighted layer of ``source`` (ENet, split or not) into ``target``."""
    if isinstance(source, SplitENet):
        weights = source.layer_weights()
    else:
        weights = {layer.name: layer.get_weights() for layer in source.layers if layer.weights}
    targets = _weighted_layers(target)
    names = {layer.name for layer in targets}
    if names != set(weights):
        raise ConfigError(
            f"the two ENets differ in their layers: {sorted(names ^ set(weights))[:5]}"
        )
    for layer in targets:
        layer.set_weights(weights[layer.name])


def _weighted_layers(model: keras.Model) -> list[keras.layers.Layer]:
    if isinstance(model, SplitENet):
        return [layer for stage in model.stages for layer in stage.layers if layer.weights]
    return [layer for layer in model.layers if layer.weights]
