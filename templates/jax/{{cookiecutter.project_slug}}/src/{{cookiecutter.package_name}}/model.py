{%- if cookiecutter.task == "image" -%}
"""The model: a small residual CNN (ResNet-style stages) in Flax NNX.

Parameters are float32; `dtype` is the compute dtype (bfloat16 with `trainer.precision=bf16`).
Kernels are annotated with the mesh axis their output features are sharded over (`MODEL`); with
`trainer.mesh_model=1` that axis has one device and every parameter is replicated.
"""
{%- elif cookiecutter.task == "text" -%}
"""The model: a small pre-norm Transformer encoder over the data's own vocabulary, in Flax NNX.

Parameters are float32; `dtype` is the compute dtype (bfloat16 with `trainer.precision=bf16`).
Attention heads and MLP features are annotated with the mesh axis they are sharded over
(`MODEL`, Megatron-style); with `trainer.mesh_model=1` every parameter is replicated.
"""
{%- else -%}
"""The model: an MLP over numeric columns and embedded categorical columns, in Flax NNX.

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

from {{ cookiecutter.package_name }}.config import ModelConfig
from {{ cookiecutter.package_name }}.data import Preprocessor
from {{ cookiecutter.package_name }}.devices import MODEL


def sharded(*axes: str | None) -> dict[str, object]:
    """Parameter metadata: the mesh axis of each dimension (None: replicated). Only recorded
    here (`devices.shard_as_annotated` applies it), so a model also builds outside a mesh."""
    return {"out_sharding": axes, "eager_sharding": False}
{%- if cookiecutter.task == "image" %}


def conv_init(key: jax.Array, shape: tuple[int, ...], dtype: jnp.dtype) -> jax.Array:
    """LeCun normal (Flax's default), drawn as a (fan_in, features) matrix and reshaped: the same
    distribution, and several times faster for XLA to compile on CPU than a 4-D random draw."""
    matrix = nnx.initializers.lecun_normal()(key, (math.prod(shape[:-1]), shape[-1]), dtype)
    return matrix.reshape(shape)


class ResidualBlock(nnx.Module):
    def __init__(
        self, in_features: int, features: int, stride: int, *, dtype: jnp.dtype, rngs: nnx.Rngs
    ) -> None:
        def conv(in_f: int, out_f: int, kernel: int, stride: int = 1) -> nnx.Conv:
            return nnx.Conv(
                in_f,
                out_f,
                (kernel, kernel),
                strides=stride,
                use_bias=False,
                dtype=dtype,
                kernel_init=conv_init,
                kernel_metadata=sharded(None, None, None, MODEL),
                rngs=rngs,
            )

        def norm(features: int) -> nnx.BatchNorm:
            return nnx.BatchNorm(features, momentum=0.9, dtype=dtype, rngs=rngs)

        self.conv1, self.norm1 = conv(in_features, features, 3, stride), norm(features)
        self.conv2, self.norm2 = conv(features, features, 3), norm(features)
        self.shortcut = (
            nnx.Sequential(conv(in_features, features, 1, stride), norm(features))
            if stride != 1 or in_features != features
            else None
        )

    def __call__(self, x: jax.Array) -> jax.Array:
        y = nnx.relu(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        return nnx.relu(y + (self.shortcut(x) if self.shortcut else x))


class ImageClassifier(nnx.Module):
    """Stem, residual stages (each after the first halves the resolution), pooled linear head."""

    def __init__(
        self,
        num_classes: int,
        widths: list[int],
        blocks_per_stage: int,
        dropout: float,
        *,
        dtype: jnp.dtype,
        rngs: nnx.Rngs,
    ) -> None:
        self.stem = nnx.Conv(
            3, widths[0], (3, 3), use_bias=False, dtype=dtype, kernel_init=conv_init, rngs=rngs
        )
        self.stem_norm = nnx.BatchNorm(widths[0], momentum=0.9, dtype=dtype, rngs=rngs)
        blocks, features = [], widths[0]
        for stage, width in enumerate(widths):
            for index in range(blocks_per_stage):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(ResidualBlock(features, width, stride, dtype=dtype, rngs=rngs))
                features = width
        self.blocks = nnx.List(blocks)
        self.dropout = nnx.Dropout(dropout, rngs=rngs)
        self.head = nnx.Linear(features, num_classes, dtype=dtype, rngs=rngs)

    def __call__(self, image: jax.Array) -> jax.Array:
        x = nnx.relu(self.stem_norm(self.stem(image)))
        for block in self.blocks:
            x = block(x)
        x = self.dropout(x.mean(axis=(1, 2)))
        return self.head(x).astype(jnp.float32)


def create_model(
    config: ModelConfig, preprocessor: Preprocessor, dtype: jnp.dtype, rngs: nnx.Rngs
) -> ImageClassifier:
    return ImageClassifier(
        preprocessor.output_size,
        config.widths,
        config.blocks_per_stage,
        config.dropout,
        dtype=dtype,
        rngs=rngs,
    )
{%- elif cookiecutter.task == "text" %}


class EncoderBlock(nnx.Module):
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
        self.attention_norm = nnx.LayerNorm(dim, dtype=dtype, rngs=rngs)
        self.attention = nnx.MultiHeadAttention(
            heads,
            dim,
            dropout_rate=dropout,
            deterministic=False,
            decode=False,
            dtype=dtype,
            kernel_metadata=sharded(None, MODEL, None),
            out_kernel_metadata=sharded(MODEL, None, None),
            rngs=rngs,
        )
        self.mlp_norm = nnx.LayerNorm(dim, dtype=dtype, rngs=rngs)
        self.mlp_in = nnx.Linear(
            dim, mlp_dim, dtype=dtype, kernel_metadata=sharded(None, MODEL), rngs=rngs
        )
        self.mlp_out = nnx.Linear(
            mlp_dim, dim, dtype=dtype, kernel_metadata=sharded(MODEL, None), rngs=rngs
        )
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        x = x + self.dropout(self.attention(self.attention_norm(x), mask=mask))
        return x + self.dropout(self.mlp_out(nnx.gelu(self.mlp_in(self.mlp_norm(x)))))


class TextClassifier(nnx.Module):
    """Token and position embeddings, encoder blocks, mean over the non-padding tokens."""

    def __init__(
        self,
        vocab_size: int,
        max_length: int,
        num_classes: int,
        config: ModelConfig,
        *,
        dtype: jnp.dtype,
        rngs: nnx.Rngs,
    ) -> None:
        def embed(count: int) -> nnx.Embed:
            return nnx.Embed(
                count, config.dim, dtype=dtype, embedding_metadata=sharded(None, MODEL), rngs=rngs
            )

        self.tokens, self.positions = embed(vocab_size), embed(max_length)
        self.blocks = nnx.List(
            [
                EncoderBlock(
                    config.dim, config.heads, config.mlp_dim, config.dropout, dtype=dtype, rngs=rngs
                )
                for _ in range(config.layers)
            ]
        )
        self.norm = nnx.LayerNorm(config.dim, dtype=dtype, rngs=rngs)
        self.dropout = nnx.Dropout(config.dropout, rngs=rngs)
        self.head = nnx.Linear(config.dim, num_classes, dtype=dtype, rngs=rngs)

    def __call__(self, tokens: jax.Array) -> jax.Array:
        present = tokens != 0  # id 0 is padding
        x = self.tokens(tokens) + self.positions(jnp.arange(tokens.shape[1]))
        x = self.dropout(x)
        mask = nnx.make_attention_mask(present, present)
        for block in self.blocks:
            x = block(x, mask)
        weights = present[..., None].astype(x.dtype)
        pooled = (self.norm(x) * weights).sum(axis=1) / jnp.maximum(weights.sum(axis=1), 1)
        return self.head(self.dropout(pooled)).astype(jnp.float32)


def create_model(
    config: ModelConfig, preprocessor: Preprocessor, dtype: jnp.dtype, rngs: nnx.Rngs
) -> TextClassifier:
    return TextClassifier(
        preprocessor.vocab_size,
        preprocessor.max_length,
        preprocessor.output_size,
        config,
        dtype=dtype,
        rngs=rngs,
    )
{%- else %}


class TabularModel(nnx.Module):
    """Numeric columns as they are, each categorical column through its own embedding rows."""

    def __init__(
        self,
        num_numeric: int,
        cardinalities: list[int],
        outputs: int,
        config: ModelConfig,
        *,
        dtype: jnp.dtype,
        rngs: nnx.Rngs,
    ) -> None:
        # One table for all categorical columns; column i's rows start at offsets[i].
        self.offsets = tuple(itertools.accumulate([0, *cardinalities[:-1]]))
        self.embedding = (
            nnx.Embed(
                sum(cardinalities),
                config.embedding_dim,
                dtype=dtype,
                embedding_metadata=sharded(None, MODEL),
                rngs=rngs,
            )
            if cardinalities
            else None
        )
        features = num_numeric + config.embedding_dim * len(cardinalities)
        layers = []
        for width in config.hidden:
            layers.append(
                nnx.Linear(
                    features, width, dtype=dtype, kernel_metadata=sharded(None, MODEL), rngs=rngs
                )
            )
            features = width
        self.hidden = nnx.List(layers)
        self.dropout = nnx.Dropout(config.dropout, rngs=rngs)
        self.head = nnx.Linear(features, outputs, dtype=dtype, rngs=rngs)

    def __call__(
        self, numeric: jax.Array | None = None, categorical: jax.Array | None = None
    ) -> jax.Array:
        columns = []
        if numeric is not None:
            columns.append(numeric)
        if categorical is not None:
            embedded = self.embedding(categorical + jnp.asarray(self.offsets, categorical.dtype))
            columns.append(embedded.reshape(embedded.shape[0], -1))
        x = jnp.concatenate(columns, axis=-1)
        for layer in self.hidden:
            x = self.dropout(nnx.relu(layer(x)))
        return self.head(x).astype(jnp.float32)


def create_model(
    config: ModelConfig, preprocessor: Preprocessor, dtype: jnp.dtype, rngs: nnx.Rngs
) -> TabularModel:
    return TabularModel(
        len(preprocessor.numeric),
        preprocessor.cardinalities,
        preprocessor.output_size,
        config,
        dtype=dtype,
        rngs=rngs,
    )
{%- endif %}
