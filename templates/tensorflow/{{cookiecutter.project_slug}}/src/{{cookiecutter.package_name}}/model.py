{%- if cookiecutter.task == "image" -%}
"""A small residual CNN for image classification (ResNet-style basic blocks).

Input: `image`, float32 of shape (batch, height, width, 3) in [0, 1], as the data module encodes it.
Output: one logit per class (float32 under a mixed-precision policy).
"""
{%- elif cookiecutter.task == "text" -%}
"""A small Transformer encoder for text classification.

Input: `tokens`, int32 of shape (batch, max_length), 0 for padding, as the data module encodes
them. Attention and the pooling that feeds the classifier (the mean of the final token states)
skip padding, so it never affects the prediction; an empty text pools to zeros.
Output: one logit per class (float32 under a mixed-precision policy).
"""
{%- else -%}
"""An MLP over standardised numeric columns and embedded categorical columns.

Inputs (those the data has): `numeric`, float32 of shape (batch, numeric columns), and
`categorical`, int32 of shape (batch, categorical columns) with 0 for unknown values.
Output: one logit per class, or one value (the standardised target) for regression (float32
under a mixed-precision policy).
"""
{%- endif %}

from __future__ import annotations

import keras
{%- if cookiecutter.task == "text" %}
from keras import layers, ops
{%- else %}
from keras import layers
{%- endif %}

from {{ cookiecutter.package_name }} import blocks
from {{ cookiecutter.package_name }}.config import ModelConfig
from {{ cookiecutter.package_name }}.data import Preprocessor
{%- if cookiecutter.task == "text" %}

PAD_ID = 0
{%- endif %}


def build_model(config: ModelConfig, preprocessor: Preprocessor) -> keras.Model:
{%- if cookiecutter.task != "tabular" %}
    if config.backbone != "default":
        from {{ cookiecutter.package_name }} import pretrained  # needs requirements/pretrained.txt

        return pretrained.build(config, preprocessor)
{%- endif %}
    inputs = {
        name: keras.Input(shape, dtype=dtype, name=name)
        for name, (shape, dtype) in preprocessor.input_spec.items()
    }
    outputs = _network(inputs, config, preprocessor)
    return keras.Model(inputs, outputs, name="{{ cookiecutter.task }}_model")
{%- if cookiecutter.task == "image" %}


def _network(inputs: dict, config: ModelConfig, preprocessor: Preprocessor) -> keras.KerasTensor:
    x = blocks.conv(inputs["image"], config.widths[0], 3, strides=1, name="stem_conv")
    x = layers.ReLU()(blocks.batch_norm("stem_bn")(x))
    index = 0
    for stage, width in enumerate(config.widths):
        for block in range(config.blocks_per_stage):
            stride = 2 if stage > 0 and block == 0 else 1
            x = _basic_block(x, width, stride, name=f"block{index}")
            index += 1
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(config.dropout)(x)
    return blocks.dense(preprocessor.output_size, x.shape[-1], name="head", dtype="float32")(x)


def _basic_block(x: keras.KerasTensor, width: int, stride: int, name: str) -> keras.KerasTensor:
    shortcut = x
    if stride != 1 or x.shape[-1] != width:
        shortcut = blocks.conv(x, width, 1, strides=stride, name=f"{name}_shortcut_conv")
        shortcut = blocks.batch_norm(f"{name}_shortcut_bn")(shortcut)
    y = blocks.conv(x, width, 3, strides=stride, name=f"{name}_conv1")
    y = layers.ReLU()(blocks.batch_norm(f"{name}_bn1")(y))
    y = blocks.batch_norm(f"{name}_bn2")(blocks.conv(y, width, 3, strides=1, name=f"{name}_conv2"))
    return layers.ReLU()(layers.Add()([y, shortcut]))
{%- elif cookiecutter.task == "text" %}


def _network(inputs: dict, config: ModelConfig, preprocessor: Preprocessor) -> keras.KerasTensor:
    tokens = inputs["tokens"]
    real = ops.not_equal(tokens, PAD_ID)
    # an all-padding row attends to everything rather than to nothing
    keep = ops.logical_or(real, ops.logical_not(ops.any(real, axis=1, keepdims=True)))
    x = blocks.TokenAndPositionEmbedding(
        preprocessor.vocab_size, preprocessor.max_length, config.dim, name="embedding"
    )(tokens)
    x = layers.Dropout(config.dropout)(x)
    for index in range(config.layers):
        x = _encoder_block(x, keep, config, name=f"block{index}")
    weights = ops.expand_dims(ops.cast(real, x.dtype), -1)
    x = blocks.layer_norm("norm")(x) * weights
    pooled = ops.sum(x, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)
    return blocks.dense(preprocessor.output_size, config.dim, name="head", dtype="float32")(pooled)


def _encoder_block(
    x: keras.KerasTensor, keep: keras.KerasTensor, config: ModelConfig, name: str
) -> keras.KerasTensor:
    """Pre-norm Transformer encoder layer: attention then MLP, each with a residual."""
    attention = blocks.SelfAttention(config.dim, config.heads, config.dropout, name=f"{name}_attn")
    x = x + attention(blocks.layer_norm(f"{name}_norm1")(x), keep)
    hidden = blocks.dense(config.mlp_dim, config.dim, name=f"{name}_mlp1")(
        blocks.layer_norm(f"{name}_norm2")(x)
    )
    hidden = blocks.dense(config.dim, config.mlp_dim, name=f"{name}_mlp2")(blocks.gelu(hidden))
    return x + layers.Dropout(config.dropout)(hidden)
{%- else %}


def _network(inputs: dict, config: ModelConfig, preprocessor: Preprocessor) -> keras.KerasTensor:
    features = [inputs["numeric"]] if "numeric" in inputs else []
    for column, cardinality in enumerate(preprocessor.cardinalities):
        embedding = layers.Embedding(
            cardinality,
            config.embedding_dim,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0),
            name=f"embedding{column}",
        )
        features.append(embedding(inputs["categorical"][:, column]))
    x = layers.Concatenate()(features) if len(features) > 1 else features[0]
    for index, width in enumerate(config.hidden):
        x = _he_dense(width, name=f"hidden{index}", activation="relu")(x)
        x = layers.Dropout(config.dropout)(x)
    return _he_dense(preprocessor.output_size, name="head", dtype="float32")(x)


def _he_dense(units: int, name: str, **kwargs) -> layers.Dense:
    """He initialisation suits ReLU: faster to learn."""
    return layers.Dense(units, kernel_initializer=blocks.he_normal(), name=name, **kwargs)
{%- endif %}
