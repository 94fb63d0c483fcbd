"""ENet (arXiv 1606.02147) in Keras: structure, gradients, pooling/unpooling, shapes, size.

The original sample had two structural bugs: the dilated/asymmetric blocks reused one
BatchNorm and left their own norms unused, and the upsampling main branch did not
upsample (it was zero-padded into a corner of the skip tensor). These tests pin both
down: every trainable variable gets a gradient, unpooling inverts pooling exactly, and
the two branches of each upsampling block are on the same grid.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np
import pytest
import tensorflow as tf

from segtrain.errors import ConfigError
from segtrain.models.enet import (
    PAPER_PARAMETERS,
    MaxPoolingWithArgmax2D,
    MaxUnpooling2D,
    build_enet,
)

NUM_CLASSES = 5


@pytest.fixture(scope="module")
def model() -> keras.Model:
    keras.utils.set_random_seed(0)
    return build_enet(NUM_CLASSES, (64, 64, 3))


@pytest.fixture(scope="module")
def any_size_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    return build_enet(NUM_CLASSES)


def test_stage_layout_follows_the_paper(model):
    blocks = sorted(
        {
            layer.name.rsplit("_", 1)[0]
            for layer in model.layers
            if layer.name.startswith("bottleneck") and layer.name.endswith("_add")
        }
    )
    expected = (
        [f"bottleneck1_{i}" for i in range(5)]
        + [f"bottleneck2_{i}" for i in range(9)]
        + [f"bottleneck3_{i}" for i in range(1, 9)]
        + [f"bottleneck4_{i}" for i in range(3)]
        + [f"bottleneck5_{i}" for i in range(2)]
    )
    assert blocks == sorted(expected)
    for stage in (2, 3):
        dilations = [
            model.get_layer(f"bottleneck{stage}_{i}_conv").dilation_rate for i in (2, 4, 6, 8)
        ]
        assert dilations == [(2, 2), (4, 4), (8, 8), (16, 16)]
        for i in (3, 7):
            assert model.get_layer(f"bottleneck{stage}_{i}_conv_5x1").kernel_size == (5, 1)
            assert model.get_layer(f"bottleneck{stage}_{i}_conv_1x5").kernel_size == (1, 5)
    # initial block: 13 conv filters + 3 pooled input channels
    assert model.get_layer("initial_conv").filters == 13
    assert model.get_layer("initial_bn").output.shape[-1] == 16
    # spatial dropout 0.01 in stage 1, 0.1 afterwards
    assert model.get_layer("bottleneck1_3_dropout").rate == pytest.approx(0.01)
    assert model.get_layer("bottleneck2_5_dropout").rate == pytest.approx(0.1)
    assert model.get_layer("bottleneck5_1_dropout").rate == pytest.approx(0.1)


def test_every_batchnorm_and_prelu_is_its_own_layer(model):
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    # one node per layer: no norm is applied twice
    assert all(len(layer._inbound_nodes) == 1 for layer in norms)
    # a dilated block has its own norm after its own conv
    conv = model.get_layer("bottleneck2_2_conv")
    bn = model.get_layer("bottleneck2_2_conv_bn")
    assert bn.input is conv.output


def test_every_trainable_variable_gets_a_nonzero_gradient(model):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 64, 64, 3)).astype("float32")
    y = rng.integers(0, NUM_CLASSES, size=(2, 64, 64))
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    dead = [
        v.path
        for v, g in zip(model.trainable_variables, grads, strict=True)
        if g is None or not np.any(np.asarray(g))
    ]
    assert not dead, f"variables without gradient: {dead}"


def test_unpool_of_pool_restores_every_maximum_at_its_position():
    rng = np.random.default_rng(1)
    x = rng.permutation(2 * 8 * 6 * 3).reshape(2, 8, 6, 3).astype("float32")  # distinct
    pooled, argmax = MaxPoolingWithArgmax2D()(x)
    restored = np.asarray(MaxUnpooling2D()([pooled, argmax]))

    windows = x.reshape(2, 4, 2, 3, 2, 3)
    window_max = windows.max(axis=(2, 4), keepdims=True)
    expected = np.where(windows == window_max, windows, 0).reshape(x.shape)
    np.testing.assert_array_equal(restored, expected)
    # exactly one value per window survives, in every batch item and channel
    assert np.count_nonzero(restored) == pooled.shape.num_elements()


def test_upsampling_main_branch_and_unpooled_skip_share_one_grid(model):
    # 64x64 input: 4.0 goes 8x8 -> 16x16, 5.0 goes 16x16 -> 32x32
    for block, side in (("bottleneck4_0", 16), ("bottleneck5_0", 32)):
        main = model.get_layer(f"{block}_expand_bn").output.shape
        skip = model.get_layer(f"{block}_unpool").output.shape
        assert main == skip
        assert main[1:3] == (side, side)


@pytest.mark.parametrize("size", [(64, 64), (48, 80), (8, 16)])
def test_output_has_the_input_size_and_one_channel_per_class(any_size_model, size):
    x = np.zeros((1, *size, 3), "float32")
    assert any_size_model(x).shape == (1, *size, NUM_CLASSES)


def test_sizes_not_divisible_by_8_are_refused_with_a_clear_message(any_size_model):
    with pytest.raises(ConfigError, match=r"divisible by 8.*height=60"):
        build_enet(NUM_CLASSES, (60, 64, 3))
    with pytest.raises(Exception, match="divisible by 8"):
        any_size_model(np.zeros((1, 64, 36, 3), "float32"))


def test_sizes_unknown_until_run_time_are_checked_in_the_graph(any_size_model):
    fn = tf.function(any_size_model, input_signature=[tf.TensorSpec([None, None, None, 3])])
    assert fn(tf.zeros([1, 16, 24, 3])).shape == (1, 16, 24, NUM_CLASSES)
    with pytest.raises(tf.errors.InvalidArgumentError, match="divisible by 8"):
        fn(tf.zeros([1, 20, 24, 3]))


def test_parameter_count_is_within_5_percent_of_the_paper():
    # the paper's 0.37 M; compared at CamVid's 11 classes (the paper's benchmark)
    m = build_enet(11)
    trainable = sum(int(np.prod(v.shape)) for v in m.trainable_variables)
    assert trainable == 363_434
    assert abs(trainable - PAPER_PARAMETERS) / PAPER_PARAMETERS < 0.05


def test_keras_file_round_trip_gives_the_same_logits(model, tmp_path):
    path = tmp_path / "enet.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    x = np.random.default_rng(2).normal(size=(1, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-5, atol=1e-5)


def test_logits_stay_float32_under_a_mixed_bfloat16_policy():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        m = build_enet(NUM_CLASSES, (32, 32, 3))
        out = m(np.zeros((1, 32, 32, 3), "float32"))
        assert m.get_layer("bottleneck2_1_conv").compute_dtype == "bfloat16"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert out.dtype == "float32"
