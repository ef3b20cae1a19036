"""The recipe's layers in Keras, the same as PyTorch's and Flax's (see `recipe.py`).

Where a Keras default differs from the recipe, it is set here:
{%- if cookiecutter.task == "image" %} PyTorch's initialisation
(uniform(+-1/sqrt(fan_in)) for convolution and dense weights and biases), the batch norm
constants, and symmetric zero padding for strided convolutions (Keras "same" pads the bottom and
right only on even sizes).
{%- elif cookiecutter.task == "text" %} PyTorch's initialisation
(uniform(+-1/sqrt(fan_in)) for dense weights and biases, normal(0, 0.02) embeddings), the layer
norm epsilon, fused query-key-value attention and the exact GELU.
{%- else %} PyTorch's He initialisation.
{%- endif %}

`model.py`, which is yours once generated, composes these; this module stays the template's, so
`dlstart update` brings recipe fixes to it.
"""

from __future__ import annotations

{%- if cookiecutter.task != "tabular" %}

import math
{%- endif %}

import keras
{%- if cookiecutter.task == "image" %}
from keras import layers, ops
{%- elif cookiecutter.task == "text" %}
from keras import layers, ops
{%- endif %}
{%- if cookiecutter.task != "tabular" %}

from {{ cookiecutter.package_name }} import recipe
{%- endif %}
{%- if cookiecutter.task != "tabular" %}


def torch_uniform(fan_in: int) -> keras.initializers.Initializer:
    """PyTorch's default for convolution and linear weights and biases."""
    limit = 1.0 / math.sqrt(fan_in)
    return keras.initializers.RandomUniform(-limit, limit)


{%- endif %}
{%- if cookiecutter.task == "image" %}


def conv(
    x: keras.KerasTensor, filters: int, kernel_size: int, strides: int, name: str
) -> keras.KerasTensor:
    """A convolution without bias, zero-padded by kernel_size // 2 on every side (PyTorch's
    padding=kernel_size // 2)."""
    fan_in = x.shape[-1] * kernel_size * kernel_size
    if strides > 1:  # "same" would pad the bottom and right only, on even sizes
        x = layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
    return layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same" if strides == 1 else "valid",
        use_bias=False,
        kernel_initializer=torch_uniform(fan_in),
        name=name,
    )(x)


def batch_norm(name: str) -> BatchNorm:
    return BatchNorm(
        momentum=1.0 - recipe.BATCH_NORM_MOMENTUM, epsilon=recipe.BATCH_NORM_EPSILON, name=name
    )


@keras.saving.register_keras_serializable(package="{{ cookiecutter.package_name }}")
class BatchNorm(layers.BatchNormalization):
    """Keras' batch norm with PyTorch's running statistics: they take the unbiased batch
    variance, and the batch of the n-th training step (0 for the first) weighs
    max(BATCH_NORM_MOMENTUM, 1 / (n + 1)) in them (`recipe.batch_norm_momentum`): an even
    average over the first steps, so a short run's statistics are its own."""

    def build(self, input_shape) -> None:
        super().build(input_shape)
        self.batches = self.add_weight(
            shape=(), initializer="zeros", dtype="float32", trainable=False, name="batches"
        )

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable) or mask is not None:
            return super().call(inputs, training=training, mask=mask)
        x = ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        mean, variance = _moments(x)
        count = ops.cast(ops.size(x) // ops.shape(x)[-1], x.dtype)
        unbiased = variance * count / ops.maximum(count - 1.0, 1.0)
        weight = ops.maximum(1.0 - self.momentum, 1.0 / (self.batches + 1.0))
        weight = ops.cast(weight, x.dtype)
        self.moving_mean.assign(self.moving_mean + (mean - self.moving_mean) * weight)
        self.moving_variance.assign(
            self.moving_variance + (unbiased - self.moving_variance) * weight
        )
        self.batches.assign_add(1.0)
        # (x - mean) * scale rather than Keras' x * scale - mean * scale (cancellation), with
        # the statistics broadcast per example first, so that their gradients are summed in two
        # stages too (see `_moments`)
        scale = self.gamma * ops.rsqrt(variance + self.epsilon)
        per_example = (ops.shape(x)[0], *[1] * (len(x.shape) - 2), x.shape[-1])
        mean, scale, beta = (ops.broadcast_to(v, per_example) for v in (mean, scale, self.beta))
        return ops.cast((x - mean) * scale + beta, self.compute_dtype)


def _moments(x):
    """Per-channel mean and variance, reduced over the spatial axes first, then the batch: one
    float32 reduction over every position of a batch (TensorFlow's on CPU) is several times
    less exact, enough for training to drift from PyTorch's within a few Adam steps."""
    spatial = list(range(1, len(x.shape) - 1))
    mean = ops.mean(ops.mean(x, axis=spatial), axis=0)
    variance = ops.mean(ops.mean(ops.square(x - mean), axis=spatial), axis=0)
    return mean, variance
{%- endif %}
{%- if cookiecutter.task == "text" %}


def layer_norm(name: str) -> layers.LayerNormalization:
    return layers.LayerNormalization(epsilon=recipe.LAYER_NORM_EPSILON, name=name)


{%- endif %}
{%- if cookiecutter.task != "tabular" %}


def dense(units: int, fan_in: int, name: str, **kwargs) -> layers.Dense:
    return layers.Dense(
        units,
        kernel_initializer=torch_uniform(fan_in),
        bias_initializer=torch_uniform(fan_in),
        name=name,
        **kwargs,
    )


{%- endif %}
{%- if cookiecutter.task == "text" %}


def gelu(x):
    """The exact GELU, written with erf: ONNX has no Erfc, which `tf.nn.gelu` would use."""
    return 0.5 * x * (1.0 + ops.erf(x / math.sqrt(2.0)))


@keras.saving.register_keras_serializable(package="{{ cookiecutter.package_name }}")
class PaddedNormal(keras.initializers.RandomNormal):
    """normal(0, stddev) with row 0, the padding id, zero (PyTorch's `padding_idx`)."""

    def __call__(self, shape, dtype=None):
        values = super().__call__(shape, dtype)
        return ops.concatenate([ops.zeros_like(values[:1]), values[1:]])


@keras.saving.register_keras_serializable(package="{{ cookiecutter.package_name }}")
class TokenAndPositionEmbedding(layers.Layer):
    """Token embeddings (the padding row zero) plus learned position embeddings."""

    def __init__(self, vocab_size: int, max_length: int, dim: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.vocab_size, self.max_length, self.dim = vocab_size, max_length, dim
        self.tokens = layers.Embedding(
            vocab_size,
            dim,
            embeddings_initializer=PaddedNormal(stddev=recipe.EMBEDDING_STD),
            name="tokens",
        )
        self.positions = layers.Embedding(
            max_length,
            dim,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=recipe.EMBEDDING_STD),
            name="positions",
        )

    def build(self, input_shape) -> None:
        self.tokens.build(input_shape)
        self.positions.build((input_shape[-1],))

    def call(self, token_ids):
        positions = ops.arange(ops.shape(token_ids)[-1])
        return self.tokens(token_ids) + self.positions(positions)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "max_length": self.max_length,
            "dim": self.dim,
        }


@keras.saving.register_keras_serializable(package="{{ cookiecutter.package_name }}")
class SelfAttention(layers.Layer):
    """Multi-head self-attention with one fused query-key-value projection, as PyTorch's
    `scaled_dot_product_attention`: keys where `keep` is false get no weight; dropout applies to
    the attention probabilities."""

    def __init__(self, dim: int, heads: int, dropout: float, **kwargs) -> None:
        super().__init__(**kwargs)
        if dim % heads:
            raise ValueError(f"model.dim ({dim}) must be divisible by model.heads ({heads})")
        self.dim, self.heads, self.rate = dim, heads, dropout
        self.qkv = dense(3 * dim, dim, name="qkv")
        self.proj = dense(dim, dim, name="proj")
        self.dropout = layers.Dropout(dropout)

    def build(self, x_shape, keep_shape) -> None:
        self.qkv.build(x_shape)
        self.proj.build(x_shape)

    def call(self, x, keep, training=None):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        heads = [
            ops.transpose(ops.reshape(t, (batch, length, self.heads, -1)), (0, 2, 1, 3))
            for t in ops.split(self.qkv(x), 3, axis=-1)
        ]
        query, key, value = heads
        scores = ops.matmul(query, ops.transpose(key, (0, 1, 3, 2)))
        scores = scores / math.sqrt(self.dim // self.heads)
        scores = ops.where(keep[:, None, None, :], scores, float("-inf"))
        weights = self.dropout(ops.softmax(scores, axis=-1), training=training)
        attended = ops.transpose(ops.matmul(weights, value), (0, 2, 1, 3))
        return self.proj(ops.reshape(attended, (batch, length, self.dim)))

    def get_config(self) -> dict:
        return {**super().get_config(), "dim": self.dim, "heads": self.heads, "dropout": self.rate}
{%- endif %}
{%- if cookiecutter.task == "tabular" %}


def he_normal() -> keras.initializers.Initializer:
    """PyTorch's `kaiming_normal_(nonlinearity="relu")`: untruncated, unlike Keras' HeNormal."""
    return keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal")
{%- endif %}
