{%- if cookiecutter.task == "image" -%}
"""The model: a small residual CNN (ResNet-style basic blocks) in Flax NNX.

Input: `image`, float32 of shape (batch, height, width, 3) in [0, 1], as the data module encodes it.
Output: one logit per class. The recipe (`recipe.py`) is the same in every framework: 3x3 convs
padded by 1 on every side, PyTorch's batch norm statistics and default initialisation.

Parameters are float32; `dtype` is the compute dtype (bfloat16 with `trainer.precision=bf16`).
Kernels are annotated with the mesh axis their output features are sharded over (`MODEL`); with
`trainer.mesh_model=1` that axis has one device and every parameter is replicated.
"""
{%- elif cookiecutter.task == "text" -%}
"""The model: a small pre-norm Transformer encoder over the data's own vocabulary, in Flax NNX.

Input: `tokens`, int32 of shape (batch, max_length), 0 for padding, as the data module encodes
them. Attention and the pooling that feeds the classifier (the mean of the final token states)
skip padding, so it never affects the prediction; an empty text pools to zeros.
Output: one logit per class. The recipe (`recipe.py`) is the same in every framework.

Parameters are float32; `dtype` is the compute dtype (bfloat16 with `trainer.precision=bf16`).
Attention and MLP features are annotated with the mesh axis they are sharded over (`MODEL`,
Megatron-style); with `trainer.mesh_model=1` every parameter is replicated.
"""
{%- else -%}
"""The model: an MLP over numeric columns and embedded categorical columns, in Flax NNX.

Inputs (those the data has): `numeric`, float32 of shape (batch, numeric columns), and
`categorical`, int32 of shape (batch, categorical columns) with 0 for unknown values.
Output: one logit per class, or one value (the standardised target) for regression.

Parameters are float32; `dtype` is the compute dtype (bfloat16 with `trainer.precision=bf16`).
Hidden layers are annotated with the mesh axis their features are sharded over (`MODEL`); with
`trainer.mesh_model=1` every parameter is replicated.
"""
{%- endif %}

from __future__ import annotations

{% if cookiecutter.task == "image" -%}
import math

{% elif cookiecutter.task == "tabular" -%}
import itertools

{% endif -%}
import jax
import jax.numpy as jnp
from flax import nnx

{% if cookiecutter.task != "tabular" -%}
from {{ cookiecutter.package_name }} import recipe
{% endif -%}
from {{ cookiecutter.package_name }}.config import ModelConfig
from {{ cookiecutter.package_name }}.data import Preprocessor
from {{ cookiecutter.package_name }}.devices import MODEL
{%- if cookiecutter.task == "text" %}
from {{ cookiecutter.package_name }}.errors import ConfigError
{%- endif %}
{%- if cookiecutter.task != "tabular" %}

# PyTorch's default for convolutions and linear layers: uniform(+-1/sqrt(fan_in)).
default_kernel_init = nnx.initializers.variance_scaling(1 / 3, "fan_in", "uniform")
{%- endif %}


def sharded(*axes: str | None) -> dict[str, object]:
    """Parameter metadata: the mesh axis of each dimension (None: replicated). Only recorded
    here (`devices.shard_as_annotated` applies it), so a model also builds outside a mesh."""
    return {"out_sharding": axes, "eager_sharding": False}
{%- if cookiecutter.task != "tabular" %}


def default_bias_init(fan_in: int) -> nnx.Initializer:
    """PyTorch's default bias: uniform(+-1/sqrt(fan_in)) of the layer's inputs."""
    bound = 1 / fan_in**0.5

    def init(key: jax.Array, shape: tuple[int, ...], dtype: jnp.dtype = jnp.float32) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def linear(
    in_features: int,
    out_features: int,
    *,
    dtype: jnp.dtype,
    rngs: nnx.Rngs,
    axes: tuple[str | None, str | None] = (None, None),
) -> nnx.Linear:
    return nnx.Linear(
        in_features,
        out_features,
        dtype=dtype,
        kernel_init=default_kernel_init,
        bias_init=default_bias_init(in_features),
        kernel_metadata=sharded(*axes),
        rngs=rngs,
    )
{%- endif %}
{%- if cookiecutter.task == "image" %}


def conv_init(key: jax.Array, shape: tuple[int, ...], dtype: jnp.dtype) -> jax.Array:
    """The default kernel init, drawn as a (fan_in, features) matrix and reshaped: the same
    distribution, and several times faster for XLA to compile on CPU than a 4-D random draw."""
    matrix = default_kernel_init(key, (math.prod(shape[:-1]), shape[-1]), dtype)
    return matrix.reshape(shape)


def conv(
    in_features: int,
    out_features: int,
    kernel: int,
    stride: int = 1,
    *,
    dtype: jnp.dtype,
    rngs: nnx.Rngs,
) -> nnx.Conv:
    """A convolution without bias, padded by kernel // 2 on every side (not "SAME", which pads
    even-sized inputs asymmetrically when striding)."""
    pad = kernel // 2
    return nnx.Conv(
        in_features,
        out_features,
        (kernel, kernel),
        strides=stride,
        padding=((pad, pad), (pad, pad)),
        use_bias=False,
        dtype=dtype,
        kernel_init=conv_init,
        kernel_metadata=sharded(None, None, None, MODEL),
        rngs=rngs,
    )


class BatchNorm(nnx.BatchNorm):
    """Batch norm with PyTorch's statistics: the running variance moves towards the unbiased
    variance of the batch (Flax's own moves towards the biased one)."""

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.use_running_average:
            return super().__call__(x)
        previous = self.var[...]
        y = super().__call__(x)
        moved = self.var[...] - self.momentum * previous  # (1 - momentum) * the batch variance
        self.var[...] = self.var[...] + moved / (x.size // x.shape[-1] - 1)
        return y


def batch_norm(features: int, *, dtype: jnp.dtype, rngs: nnx.Rngs) -> BatchNorm:
    return BatchNorm(
        features,
        momentum=1 - recipe.BATCH_NORM_MOMENTUM,
        epsilon=recipe.BATCH_NORM_EPSILON,
        dtype=dtype,
        rngs=rngs,
    )


class BasicBlock(nnx.Module):
    def __init__(
        self, in_features: int, features: int, stride: int, *, dtype: jnp.dtype, rngs: nnx.Rngs
    ) -> None:
        self.conv1 = conv(in_features, features, 3, stride, dtype=dtype, rngs=rngs)
        self.bn1 = batch_norm(features, dtype=dtype, rngs=rngs)
        self.conv2 = conv(features, features, 3, dtype=dtype, rngs=rngs)
        self.bn2 = batch_norm(features, dtype=dtype, rngs=rngs)
        self.shortcut = (
            nnx.Sequential(
                conv(in_features, features, 1, stride, dtype=dtype, rngs=rngs),
                batch_norm(features, dtype=dtype, rngs=rngs),
            )
            if stride != 1 or in_features != features
            else None
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        y = nnx.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return nnx.relu(y + (self.shortcut(x) if self.shortcut else x))


class ResNet(nnx.Module):
    """Stem, residual stages (each after the first halves the resolution), pooled linear head."""

    def __init__(
        self,
        widths: list[int],
        blocks_per_stage: int,
        dropout: float,
        num_classes: int,
        *,
        dtype: jnp.dtype,
        rngs: nnx.Rngs,
    ) -> None:
        self.stem = nnx.Sequential(
            conv(3, widths[0], 3, dtype=dtype, rngs=rngs),
            batch_norm(widths[0], dtype=dtype, rngs=rngs),
            nnx.relu,
        )
        blocks, features = [], widths[0]
        for stage, width in enumerate(widths):
            for index in range(blocks_per_stage):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(BasicBlock(features, width, stride, dtype=dtype, rngs=rngs))
                features = width
        self.blocks = nnx.List(blocks)
        self.dropout = nnx.Dropout(dropout, rngs=rngs)
        self.head = linear(features, num_classes, dtype=dtype, rngs=rngs)

    def __call__(self, image: jax.Array) -> jax.Array:
        x = self.stem(image)
        for block in self.blocks:
            x = block(x)
        return self.head(self.dropout(x.mean(axis=(1, 2)))).astype(jnp.float32)


def create_model(
    config: ModelConfig, preprocessor: Preprocessor, dtype: jnp.dtype, rngs: nnx.Rngs
) -> nnx.Module:
    if config.backbone != "default":
        from {{ cookiecutter.package_name }} import pretrained

        return pretrained.create(config, preprocessor, dtype, rngs)
    return ResNet(
        config.widths,
        config.blocks_per_stage,
        config.dropout,
        preprocessor.output_size,
        dtype=dtype,
        rngs=rngs,
    )
{%- elif cookiecutter.task == "text" %}


PAD_ID = 0


def layer_norm(dim: int, *, dtype: jnp.dtype, rngs: nnx.Rngs) -> nnx.LayerNorm:
    return nnx.LayerNorm(dim, epsilon=recipe.LAYER_NORM_EPSILON, dtype=dtype, rngs=rngs)


class SelfAttention(nnx.Module):
    """Multi-head self-attention from one fused query/key/value projection."""

    def __init__(
        self, dim: int, heads: int, dropout: float, *, dtype: jnp.dtype, rngs: nnx.Rngs
    ) -> None:
        if dim % heads:
            raise ConfigError(f"model.dim ({dim}) must be divisible by model.heads ({heads})")
        self.heads = heads
        self.qkv = linear(dim, 3 * dim, dtype=dtype, rngs=rngs, axes=(None, MODEL))
        self.proj = linear(dim, dim, dtype=dtype, rngs=rngs, axes=(MODEL, None))
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    def __call__(self, x: jax.Array, keep: jax.Array) -> jax.Array:
        batch, length, dim = x.shape
        q, k, v = (
            t.reshape(batch, length, self.heads, -1) for t in jnp.split(self.qkv(x), 3, axis=-1)
        )
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(q.shape[-1]).astype(q.dtype)
        scores = jnp.where(keep, scores.astype(jnp.float32), -jnp.inf)
        weights = self.dropout(jax.nn.softmax(scores, axis=-1).astype(v.dtype))
        y = jnp.einsum("bhqk,bkhd->bqhd", weights, v)
        return self.proj(y.reshape(batch, length, dim))


class Block(nnx.Module):
    """Pre-norm Transformer encoder layer: attention then MLP, each with a residual."""

    def __init__(
        self,
        dim: int,
        heads: int,
        mlp_dim: int,
        dropout: float,
        *,
        dtype: jnp.dtype,
        rngs: nnx.Rngs,
    ) -> None:
        self.norm1 = layer_norm(dim, dtype=dtype, rngs=rngs)
        self.attn = SelfAttention(dim, heads, dropout, dtype=dtype, rngs=rngs)
        self.norm2 = layer_norm(dim, dtype=dtype, rngs=rngs)
        self.mlp_in = linear(dim, mlp_dim, dtype=dtype, rngs=rngs, axes=(None, MODEL))
        self.mlp_out = linear(mlp_dim, dim, dtype=dtype, rngs=rngs, axes=(MODEL, None))
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    def __call__(self, x: jax.Array, keep: jax.Array) -> jax.Array:
        x = x + self.attn(self.norm1(x), keep)
        hidden = jax.nn.gelu(self.mlp_in(self.norm2(x)), approximate=False)
        return x + self.dropout(self.mlp_out(hidden))


class TextTransformer(nnx.Module):
    """Token and position embeddings, encoder blocks, mean over the non-padding tokens."""

    def __init__(
        self,
        vocab_size: int,
        max_length: int,
        config: ModelConfig,
        num_classes: int,
        *,
        dtype: jnp.dtype,
        rngs: nnx.Rngs,
    ) -> None:
        def embed(count: int) -> nnx.Embed:
            return nnx.Embed(
                count,
                config.dim,
                dtype=dtype,
                embedding_init=nnx.initializers.normal(recipe.EMBEDDING_STD),
                embedding_metadata=sharded(None, MODEL),
                rngs=rngs,
            )

        self.token_embedding, self.position_embedding = embed(vocab_size), embed(max_length)
        self.token_embedding.embedding[PAD_ID] = 0.0
        self.dropout = nnx.Dropout(config.dropout, rngs=rngs)
        self.blocks = nnx.List(
            [
                Block(
                    config.dim, config.heads, config.mlp_dim, config.dropout, dtype=dtype, rngs=rngs
                )
                for _ in range(config.layers)
            ]
        )
        self.norm = layer_norm(config.dim, dtype=dtype, rngs=rngs)
        self.head = linear(config.dim, num_classes, dtype=dtype, rngs=rngs)

    def __call__(self, tokens: jax.Array) -> jax.Array:
        real = tokens != PAD_ID
        positions = jnp.arange(tokens.shape[1])
        x = self.dropout(self.token_embedding(tokens) + self.position_embedding(positions))
        # (batch, 1, 1, keys); an all-padding row attends to everything rather than to nothing
        keep = (real | ~real.any(axis=1, keepdims=True))[:, None, None, :]
        for block in self.blocks:
            x = block(x, keep)
        weights = real[..., None].astype(x.dtype)
        pooled = (self.norm(x) * weights).sum(axis=1) / jnp.maximum(weights.sum(axis=1), 1)
        return self.head(pooled).astype(jnp.float32)


def create_model(
    config: ModelConfig, preprocessor: Preprocessor, dtype: jnp.dtype, rngs: nnx.Rngs
) -> nnx.Module:
    if config.backbone != "default":
        from {{ cookiecutter.package_name }} import pretrained

        return pretrained.create(config, preprocessor, dtype, rngs)
    return TextTransformer(
        preprocessor.vocab_size,
        preprocessor.max_length,
        config,
        preprocessor.output_size,
        dtype=dtype,
        rngs=rngs,
    )
{%- else %}


# He initialisation suits ReLU (faster to learn); embeddings are standard normal.
he_normal = nnx.initializers.variance_scaling(2.0, "fan_in", "normal")


class TabularMLP(nnx.Module):
    """Numeric columns as they are, each categorical column through its own embedding rows."""

    def __init__(
        self,
        num_numeric: int,
        cardinalities: list[int],
        config: ModelConfig,
        num_outputs: int,
        *,
        dtype: jnp.dtype,
        rngs: nnx.Rngs,
    ) -> None:
        # One table for all categorical columns, column i's rows from offsets[i]: the same as a
        # table per column, in one lookup that every export format supports.
        self.offsets = tuple(itertools.accumulate([0, *cardinalities[:-1]]))
        self.embeddings = (
            nnx.Embed(
                sum(cardinalities),
                config.embedding_dim,
                dtype=dtype,
                embedding_init=nnx.initializers.normal(1.0),
                embedding_metadata=sharded(None, MODEL),
                rngs=rngs,
            )
            if cardinalities
            else None
        )

        def linear(in_features: int, out_features: int, axes: tuple[str | None, ...]) -> nnx.Linear:
            return nnx.Linear(
                in_features,
                out_features,
                dtype=dtype,
                kernel_init=he_normal,
                kernel_metadata=sharded(*axes),
                rngs=rngs,
            )

        width, layers = num_numeric + config.embedding_dim * len(cardinalities), []
        for hidden in config.hidden:
            layers.append(linear(width, hidden, (None, MODEL)))
            width = hidden
        self.hidden = nnx.List(layers)
        self.dropout = nnx.Dropout(config.dropout, rngs=rngs)
        self.head = linear(width, num_outputs, (None, None))

    def __call__(
        self, numeric: jax.Array | None = None, categorical: jax.Array | None = None
    ) -> jax.Array:
        features = [] if numeric is None else [numeric]
        if categorical is not None:
            embedded = self.embeddings(categorical + jnp.asarray(self.offsets, categorical.dtype))
            features.append(embedded.reshape(embedded.shape[0], -1))
        x = jnp.concatenate(features, axis=-1)
        for layer in self.hidden:
            x = self.dropout(nnx.relu(layer(x)))
        return self.head(x).astype(jnp.float32)


def create_model(
    config: ModelConfig, preprocessor: Preprocessor, dtype: jnp.dtype, rngs: nnx.Rngs
) -> TabularMLP:
    return TabularMLP(
        len(preprocessor.numeric),
        preprocessor.cardinalities,
        config,
        preprocessor.output_size,
        dtype=dtype,
        rngs=rngs,
    )
{%- endif %}
