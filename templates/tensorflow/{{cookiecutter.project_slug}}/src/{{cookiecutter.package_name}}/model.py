{%- if cookiecutter.task == "image" -%}
"""A small residual CNN (pre-activation ResNet stages) for image classification.

Inputs are RGB images in [0, 1] (see `data/image.py`); the output layer stays float32 under a
mixed-precision policy so that logits and the loss are computed in full precision.
"""
{%- elif cookiecutter.task == "text" -%}
"""A small Transformer encoder (pre-LayerNorm) over token ids, mean-pooled over real tokens.

Token ids come from the tokenizer built on the training split (`data/text.py`, id 0 is padding),
so the model has numeric inputs only and exports to LiteRT without TensorFlow-op fallbacks. The
output layer stays float32 under a mixed-precision policy.
"""
{%- else -%}
"""An MLP (Dense, BatchNorm, ReLU, Dropout blocks) over standardised numeric features and one
embedding per categorical column.

Category ids come from the vocabularies fitted on the training split (`data/tabular.py`, id 0 is
unknown), so the model has numeric inputs only and exports to LiteRT without TensorFlow-op
fallbacks. The output layer stays float32 under a mixed-precision policy.
"""
{%- endif %}

from __future__ import annotations

import keras
{%- if cookiecutter.task == "text" %}
from keras import layers, ops
{%- else %}
from keras import layers
{%- endif %}

from {{ cookiecutter.package_name }}.config import ModelConfig
from {{ cookiecutter.package_name }}.data import Preprocessor


def build_model(config: ModelConfig, preprocessor: Preprocessor) -> keras.Model:
    inputs = {
        name: keras.Input(shape, dtype=dtype, name=name)
        for name, (shape, dtype) in preprocessor.input_spec.items()
    }
    features = _features(inputs, config, preprocessor)
    outputs = layers.Dense(preprocessor.output_size, dtype="float32", name="outputs")(features)
    return keras.Model(inputs, outputs, name="{{ cookiecutter.task }}_model")
{%- if cookiecutter.task == "image" %}


def _features(inputs: dict, config: ModelConfig, preprocessor: Preprocessor) -> keras.KerasTensor:
    x = layers.Conv2D(config.widths[0], 3, padding="same", use_bias=False)(inputs["image"])
    for stage, width in enumerate(config.widths):
        for block in range(config.blocks_per_stage):
            x = _residual_block(x, width, stride=2 if stage > 0 and block == 0 else 1)
    x = layers.Activation("relu")(layers.BatchNormalization()(x))
    x = layers.GlobalAveragePooling2D()(x)
    return layers.Dropout(config.dropout)(x)


def _residual_block(x: keras.KerasTensor, width: int, stride: int) -> keras.KerasTensor:
    shortcut = x
    x = layers.Activation("relu")(layers.BatchNormalization()(x))
    if stride != 1 or shortcut.shape[-1] != width:
        shortcut = layers.Conv2D(width, 1, strides=stride, use_bias=False)(x)
    x = layers.Conv2D(width, 3, strides=stride, padding="same", use_bias=False)(x)
    x = layers.Activation("relu")(layers.BatchNormalization()(x))
    x = layers.Conv2D(width, 3, padding="same", use_bias=False)(x)
    return layers.Add()([x, shortcut])
{%- elif cookiecutter.task == "text" %}


@keras.saving.register_keras_serializable(package="{{ cookiecutter.package_name }}")
class TokenAndPositionEmbedding(layers.Layer):
    """Token embeddings plus learned position embeddings."""

    def __init__(self, vocab_size: int, max_length: int, dim: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.vocab_size, self.max_length, self.dim = vocab_size, max_length, dim
        self.tokens = layers.Embedding(vocab_size, dim)
        self.positions = layers.Embedding(max_length, dim)

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


def _features(inputs: dict, config: ModelConfig, preprocessor: Preprocessor) -> keras.KerasTensor:
    token_ids = inputs["tokens"]
    is_token = ops.not_equal(token_ids, 0)
    x = TokenAndPositionEmbedding(preprocessor.vocab_size, preprocessor.max_length, config.dim)(
        token_ids
    )
    x = layers.Dropout(config.dropout)(x)
    attention_mask = ops.expand_dims(is_token, 1)
    for _ in range(config.layers):
        x = _encoder_block(x, attention_mask, config)
    x = layers.LayerNormalization()(x)
    weights = ops.expand_dims(ops.cast(is_token, x.dtype), -1)
    pooled = ops.sum(x * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)
    return layers.Dropout(config.dropout)(pooled)


def _encoder_block(
    x: keras.KerasTensor, attention_mask: keras.KerasTensor, config: ModelConfig
) -> keras.KerasTensor:
    normed = layers.LayerNormalization()(x)
    attended = layers.MultiHeadAttention(
        config.heads, config.dim // config.heads, dropout=config.dropout
    )(normed, normed, attention_mask=attention_mask)
    x = x + layers.Dropout(config.dropout)(attended)
    # ReLU rather than exact GELU: tf2onnx turns exact GELU into an Erfc node ONNX lacks.
    hidden = layers.Dense(config.mlp_dim, activation="relu")(layers.LayerNormalization()(x))
    return x + layers.Dropout(config.dropout)(layers.Dense(config.dim)(hidden))
{%- else %}


def _features(inputs: dict, config: ModelConfig, preprocessor: Preprocessor) -> keras.KerasTensor:
    parts = [inputs["numeric"]] if "numeric" in inputs else []
    for column, cardinality in enumerate(preprocessor.cardinalities):
        category_ids = inputs["categorical"][:, column]
        parts.append(layers.Embedding(cardinality, config.embedding_dim)(category_ids))
    x = layers.Concatenate()(parts) if len(parts) > 1 else parts[0]
    for width in config.hidden:
        x = layers.Dense(width, use_bias=False)(x)
        x = layers.Activation("relu")(layers.BatchNormalization()(x))
        x = layers.Dropout(config.dropout)(x)
    return x
{%- endif %}
