"""ENet (Paszke et al., arXiv 1606.02147) as a Keras 3 functional model.

Paper-faithful layout (Table 1 of the paper), for an input of size H x W:

- initial block: 3x3 stride-2 conv (13 filters) concatenated with a 2x2 max-pool of the
  input -> 16 channels, then BN + PReLU;
- stage 1: bottleneck 1.0 (downsampling, 64 ch) and 1.1-1.4 (regular), dropout 0.01;
- stages 2 and 3: 2.0 (downsampling, 128 ch), then regular, dilated 2, asymmetric 5,
  dilated 4, regular, dilated 8, asymmetric 5, dilated 16 (3.1-3.8 repeat 2.1-2.8);
- stage 4: 4.0 upsampling to 64 ch, 4.1-4.2 regular; stage 5: 5.0 upsampling to 16 ch,
  5.1 regular; dropout 0.1 from stage 2 on;
- full conv: 2x2 stride-2 transposed conv to ``num_classes`` logits at H x W.

Every bottleneck has a main branch (projection with ratio 4, middle conv, 1x1 expansion,
each followed by its *own* BatchNorm, PReLU after the first two, spatial dropout at the
end) added to a skip branch, then a PReLU. Downsampling: the projection is a 2x2 stride-2
conv and the skip is a 2x2 max-pool **with argmax** plus zero channel padding.
Upsampling: the main branch's middle conv is a stride-2 transposed conv and the skip is
a 1x1 conv + BN followed by max-unpooling with the argmax indices stored by the matching
downsampling block, so both branches land on the same H x W grid (the original sample
zero-padded a non-upsampled tensor into a corner instead).

Convolutions followed by BatchNorm have no bias: BN subtracts the batch mean, so such a
bias never receives a gradient (the paper drops them in projections; we drop them
everywhere BN follows, which also lets a test demand a non-zero gradient for *every*
trainable variable). PReLU has one slope per channel (initial 0.25, as in Torch).

The max-pool/unpool pair is implemented with ``tf.nn.max_pool_with_argmax``
(``include_batch_in_index=True``) and ``tf.scatter_nd``; the custom layers are registered
with Keras so the model round-trips through ``.keras`` files.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from collections.abc import Sequence

import keras
import tensorflow as tf
from keras import layers

from segtrain.errors import ConfigError

#: total downsampling factor of the encoder: input sides must be multiples of it
SIZE_FACTOR = 8
#: what the paper reports for ENet (Table 3 of arXiv 1606.02147)
PAPER_PARAMETERS = 0.37e6

_PACKAGE = "segtrain.enet"


def check_input_size(height: int | None, width: int | None) -> None:
    """Raise :class:`ConfigError` unless both known sides are multiples of 8."""
    bad = [
        f"{name}={side}"
        for name, side in (("height", height), ("width", width))
        if side is not None and side % SIZE_FACTOR
    ]
    if bad:
        raise ConfigError(
            f"ENet needs input height and width divisible by {SIZE_FACTOR} (three 2x "
            f"downsamplings, each undone by an unpooling); got {', '.join(bad)}. "
            f"Set dataset.image_size to multiples of {SIZE_FACTOR}, e.g. "
            f"{[_round8(height), _round8(width)]}."
        )


def _round8(side: int | None) -> int | None:
    if side is None:
        return None
    return max(SIZE_FACTOR, round(side / SIZE_FACTOR) * SIZE_FACTOR)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class InputSizeCheck(layers.Layer):
    """Identity that fails with a clear message when H or W is not a multiple of 8.

    Shapes known when the graph is built are checked in Python; unknown ones (a model
    built for any size, e.g. for serving) are checked at run time.
    """

    def __init__(self, factor: int = SIZE_FACTOR, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        static = x.shape
        if static[1] is not None and static[2] is not None:
            check_input_size(static[1], static[2])
            return x
        shape = tf.shape(x)
        message = (
            f"ENet needs input height and width divisible by {self.factor}; "
            "resize the image (dataset.image_size) to multiples of it"
        )
        ok = tf.logical_and(
            tf.equal(shape[1] % self.factor, 0), tf.equal(shape[2] % self.factor, 0)
        )
        with tf.control_dependencies([tf.debugging.Assert(ok, [message, shape])]):
            return tf.identity(x)

    def compute_output_shape(self, input_shape):
        check_input_size(input_shape[1], input_shape[2])
        return input_shape

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MaxPoolingWithArgmax2D(layers.Layer):
    """2x2 stride-2 max-pool that also returns where each maximum came from.

    The indices are flat positions in the input tensor including the batch
    (``((b * H + y) * W + x) * C + c``), which is exactly what :class:`MaxUnpooling2D`
    scatters back to. They are integers and carry no gradient.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)

    def call(self, x):
        pooled, argmax = tf.nn.max_pool_with_argmax(
            x, ksize=2, strides=2, padding="VALID", include_batch_in_index=True
        )
        return pooled, tf.stop_gradient(argmax)

    def compute_output_spec(self, x):
        b, h, w, c = x.shape
        shape = (b, None if h is None else h // 2, None if w is None else w // 2, c)
        return (
            keras.KerasTensor(shape, dtype=x.dtype),
            keras.KerasTensor(shape, dtype="int64"),
        )


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MaxUnpooling2D(layers.Layer):
    """Inverse of :class:`MaxPoolingWithArgmax2D`: each value goes back to its argmax.

    Output is twice the input's height and width (the pooled tensor's source size, as
    sides are even by construction); every other position is zero.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)

    def call(self, inputs):
        updates, argmax = inputs
        shape = tf.shape(updates, out_type=tf.int64)
        out_shape = tf.stack([shape[0], shape[1] * 2, shape[2] * 2, shape[3]])
        flat = tf.scatter_nd(
            tf.reshape(argmax, [-1, 1]),
            tf.reshape(updates, [-1]),
            tf.reshape(tf.reduce_prod(out_shape), [1]),
        )
        return tf.reshape(flat, out_shape)

    def compute_output_spec(self, inputs):
        updates, _ = inputs
        b, h, w, c = updates.shape
        shape = (b, None if h is None else h * 2, None if w is None else w * 2, c)
        return keras.KerasTensor(shape, dtype=updates.dtype)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ChannelPadding(layers.Layer):
    """Zero-pad the channel axis up to ``channels`` (the downsampling skip path)."""

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels

    def call(self, x):
        extra = self.channels - x.shape[-1]
        return keras.ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, extra]])

    def compute_output_shape(self, input_shape):
        if input_shape[-1] > self.channels:
            raise ValueError(f"cannot pad {input_shape[-1]} channels down to {self.channels}")
        return (*input_shape[:-1], self.channels)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


def _bn(name: str) -> layers.BatchNormalization:
    # Torch's defaults (momentum 0.1 == Keras 0.9, eps 1e-3 as in the ENet code): with
    # Keras' 0.99 the running statistics lag far behind in short runs.
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-3, name=name)


def _prelu(name: str) -> layers.PReLU:
    return layers.PReLU(
        alpha_initializer=keras.initializers.Constant(0.25), shared_axes=[1, 2], name=name
    )


def _conv(filters: int, kernel, name: str, **kwargs) -> layers.Conv2D:
    return layers.Conv2D(
        filters,
        kernel,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        name=name,
        **kwargs,
    )


def initial_block(x, name: str = "initial"):
    conv = layers.Conv2D(
        13,
        3,
        strides=2,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        name=f"{name}_conv",
    )(x)
    pool = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    x = layers.Concatenate(name=f"{name}_concat")([conv, pool])
    x = _bn(f"{name}_bn")(x)
    return _prelu(f"{name}_prelu")(x)


def bottleneck(
    x,
    out_channels: int,
    name: str,
    kind: str = "regular",
    dilation: int = 1,
    dropout: float = 0.1,
    indices=None,
    ratio: int = 4,
):
    """One ENet bottleneck; returns ``y`` or ``(y, argmax)`` for ``kind="downsampling"``.

    ``kind``: regular | dilated | asymmetric | downsampling | upsampling (the last needs
    ``indices`` from the matching downsampling block).
    """
    in_channels = x.shape[-1]
    internal = out_channels // ratio
    argmax = None

    # main branch: projection
    if kind == "downsampling":
        main = _conv(internal, 2, f"{name}_proj", strides=2)(x)
    else:
        main = _conv(internal, 1, f"{name}_proj")(x)
    main = _bn(f"{name}_proj_bn")(main)
    main = _prelu(f"{name}_proj_prelu")(main)

    # main branch: the block's own convolution
    if kind in ("regular", "downsampling"):
        main = _conv(internal, 3, f"{name}_conv")(main)
    elif kind == "dilated":
        main = _conv(internal, 3, f"{name}_conv", dilation_rate=dilation)(main)
    elif kind == "asymmetric":
        main = _conv(internal, (5, 1), f"{name}_conv_5x1")(main)
        main = _conv(internal, (1, 5), f"{name}_conv_1x5")(main)
    elif kind == "upsampling":
        main = layers.Conv2DTranspose(
            internal,
            3,
            strides=2,
            padding="same",
            use_bias=False,
            kernel_initializer="he_normal",
            name=f"{name}_deconv",
        )(main)
    else:
        raise ValueError(f"unknown bottleneck kind {kind!r}")
    main = _bn(f"{name}_conv_bn")(main)
    main = _prelu(f"{name}_conv_prelu")(main)

    # main branch: expansion
    main = _conv(out_channels, 1, f"{name}_expand")(main)
    main = _bn(f"{name}_expand_bn")(main)
    if dropout > 0:
        main = layers.SpatialDropout2D(dropout, name=f"{name}_dropout")(main)

    # skip branch
    if kind == "downsampling":
        skip, argmax = MaxPoolingWithArgmax2D(name=f"{name}_pool")(x)
        if out_channels != in_channels:
            skip = ChannelPadding(out_channels, name=f"{name}_pad")(skip)
    elif kind == "upsampling":
        if indices is None:
            raise ValueError(f"{name}: an upsampling bottleneck needs pooling indices")
        skip = _conv(out_channels, 1, f"{name}_skip_conv")(x)
        skip = _bn(f"{name}_skip_bn")(skip)
        skip = MaxUnpooling2D(name=f"{name}_unpool")([skip, indices])
    else:
        skip = x
        if out_channels != in_channels:
            raise ValueError(f"{name}: {kind} bottleneck cannot change {in_channels} channels")

    y = layers.Add(name=f"{name}_add")([main, skip])
    y = _prelu(f"{name}_out_prelu")(y)
    return (y, argmax) if kind == "downsampling" else y


#: stages 2 and 3 after their first block: (kind, dilation)
_STAGE_2_3 = (
    ("regular", 1),
    ("dilated", 2),
    ("asymmetric", 1),
    ("dilated", 4),
    ("regular", 1),
    ("dilated", 8),
    ("asymmetric", 1),
    ("dilated", 16),
)


#: ENet's stages in order; model parallelism places each on a device
STAGES = ("initial", "stage1", "stage2", "stage3", "stage4", "stage5", "fullconv")


def stage_initial(x):
    """Input check + initial block: H x W x 3 -> H/2 x W/2 x 16."""
    x = InputSizeCheck(name="input_size_check")(x)
    return initial_block(x)


def stage_1(x, dropout: float = 0.01):
    """Bottlenecks 1.0-1.4 -> (H/4 x W/4 x 64, argmax indices of 1.0's pooling)."""
    x, indices = bottleneck(x, 64, "bottleneck1_0", "downsampling", dropout=dropout)
    for i in range(1, 5):
        x = bottleneck(x, 64, f"bottleneck1_{i}", dropout=dropout)
    return x, indices


def stage_2(x, dropout: float = 0.1):
    """Bottlenecks 2.0-2.8 -> (H/8 x W/8 x 128, argmax indices of 2.0's pooling)."""
    x, indices = bottleneck(x, 128, "bottleneck2_0", "downsampling", dropout=dropout)
    return _stage_2_3(x, 2, dropout), indices


def stage_3(x, dropout: float = 0.1):
    """Bottlenecks 3.1-3.8 (the layout of 2.1-2.8; 3.0 does not exist)."""
    return _stage_2_3(x, 3, dropout)


def _stage_2_3(x, stage: int, dropout: float):
    for i, (kind, dilation) in enumerate(_STAGE_2_3, start=1):
        x = bottleneck(x, 128, f"bottleneck{stage}_{i}", kind, dilation, dropout)
    return x


def stage_4(x, indices, dropout: float = 0.1):
    """Bottlenecks 4.0 (unpooling with stage 2's indices) - 4.2 -> H/4 x W/4 x 64."""
    x = bottleneck(x, 64, "bottleneck4_0", "upsampling", dropout=dropout, indices=indices)
    for i in (1, 2):
        x = bottleneck(x, 64, f"bottleneck4_{i}", dropout=dropout)
    return x


def stage_5(x, indices, dropout: float = 0.1):
    """Bottlenecks 5.0 (unpooling with stage 1's indices) - 5.1 -> H/2 x W/2 x 16."""
    x = bottleneck(x, 16, "bottleneck5_0", "upsampling", dropout=dropout, indices=indices)
    return bottleneck(x, 16, "bottleneck5_1", dropout=dropout)


def stage_fullconv(x, num_classes: int):
    """2x2 stride-2 transposed conv to ``num_classes`` float32 logits at H x W."""
    logits = layers.Conv2DTranspose(num_classes, 2, strides=2, padding="same", name="fullconv")(x)
    # logits in float32 under a mixed policy: softmax/CE are unstable in 16-bit
    return layers.Activation("linear", dtype="float32", name="logits")(logits)


def build_enet(
    num_classes: int,
    input_shape: Sequence[int | None] = (None, None, 3),
    dropout_stage1: float = 0.01,
    dropout: float = 0.1,
    name: str = "enet",
) -> keras.Model:
    """ENet returning per-pixel logits (``float32`` even under a mixed policy).

    ``input_shape`` is ``(H, W, 3)``; ``None`` sides accept any size divisible by 8
    (checked at run time). Known sides are checked now.
    """
    if num_classes < 2:
        raise ConfigError(f"num_classes={num_classes}: a segmentation model needs at least 2")
    if len(input_shape) != 3:
        raise ConfigError(f"ENet input_shape must be (height, width, channels), got {input_shape}")
    check_input_size(input_shape[0], input_shape[1])

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = stage_initial(inputs)
    x, idx1 = stage_1(x, dropout_stage1)
    x, idx2 = stage_2(x, dropout)
    x = stage_3(x, dropout)
    x = stage_4(x, idx2, dropout)
    x = stage_5(x, idx1, dropout)
    return keras.Model(inputs, stage_fullconv(x, num_classes), name=name)
