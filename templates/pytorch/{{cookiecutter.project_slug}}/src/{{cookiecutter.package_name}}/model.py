{%- if cookiecutter.task == "image" -%}
"""A small residual CNN for image classification (ResNet-style basic blocks).

Input: `image`, float32 of shape (batch, height, width, 3) in [0, 1], as the data module encodes it.
Output: one logit per class.

The recipe (normalisation constants, initialisation) is the one the TensorFlow and JAX templates
use too; its constants are in `recipe.py`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from {{ cookiecutter.package_name }} import recipe
from {{ cookiecutter.package_name }}.config import ModelConfig
from {{ cookiecutter.package_name }}.data import Preprocessor


def batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(
        channels, eps=recipe.BATCH_NORM_EPSILON, momentum=recipe.BATCH_NORM_MOMENTUM
    )


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = batch_norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = batch_norm(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                batch_norm(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(
        self, widths: list[int], blocks_per_stage: int, dropout: float, num_classes: int
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, padding=1, bias=False),
            batch_norm(widths[0]),
            nn.ReLU(),
        )
        blocks, channels = [], widths[0]
        for stage, width in enumerate(widths):
            for i in range(blocks_per_stage):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(BasicBlock(channels, width, stride))
                channels = width
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(channels, num_classes)
        self.apply(initialise)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image.permute(0, 3, 1, 2).contiguous()  # NHWC as encoded -> NCHW
        x = self.blocks(self.stem(x))
        return self.head(self.dropout(x.mean(dim=(2, 3))))


def initialise(module: nn.Module) -> None:
    """Weights and biases uniform(+-1/sqrt(fan_in)), norm scales 1 and shifts 0."""
    if isinstance(module, nn.Conv2d | nn.Linear):
        bound = 1 / math.sqrt(module.weight[0].numel())
        nn.init.uniform_(module.weight, -bound, bound)
        if module.bias is not None:
            nn.init.uniform_(module.bias, -bound, bound)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def build_model(config: ModelConfig, preprocessor: Preprocessor) -> nn.Module:
    if config.backbone != "default":
        from {{ cookiecutter.package_name }} import pretrained  # needs requirements/pretrained.txt

        return pretrained.build(config, preprocessor)
    return ResNet(config.widths, config.blocks_per_stage, config.dropout, preprocessor.output_size)
{%- elif cookiecutter.task == "text" -%}
"""A small Transformer encoder for text classification.

Input: `tokens`, int32 of shape (batch, max_length), 0 for padding, as the data module encodes
them. Attention and the pooling that feeds the classifier (the mean of the final token states)
skip padding, so it never affects the prediction; an empty text pools to zeros.
Output: one logit per class.

The recipe (normalisation constants, initialisation) is the one the TensorFlow and JAX templates
use too; its constants are in `recipe.py`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from {{ cookiecutter.package_name }} import recipe
from {{ cookiecutter.package_name }}.config import ModelConfig
from {{ cookiecutter.package_name }}.data import Preprocessor

PAD_ID = 0


def layer_norm(dim: int) -> nn.LayerNorm:
    return nn.LayerNorm(dim, eps=recipe.LAYER_NORM_EPSILON)


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"model.dim ({dim}) must be divisible by model.heads ({heads})")
        self.heads = heads
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        q, k, v = self.qkv(x).split(dim, dim=2)
        q, k, v = (t.view(batch, length, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=keep, dropout_p=self.dropout if self.training else 0.0
        )
        return self.proj(y.transpose(1, 2).reshape(batch, length, dim))


class Block(nn.Module):
    """Pre-norm Transformer encoder layer: attention then MLP, each with a residual."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = layer_norm(dim)
        self.attn = SelfAttention(dim, heads, dropout)
        self.norm2 = layer_norm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_dim),
            nn.GELU(approximate="none"),
            nn.Linear(mlp_dim, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), keep)
        return x + self.mlp(self.norm2(x))


class TextTransformer(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        max_length: int,
        config: ModelConfig,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, config.dim, padding_idx=PAD_ID)
        self.position_embedding = nn.Embedding(max_length, config.dim)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            Block(config.dim, config.heads, config.mlp_dim, config.dropout)
            for _ in range(config.layers)
        )
        self.norm = layer_norm(config.dim)
        self.head = nn.Linear(config.dim, num_classes)
        self.apply(initialise)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        real = tokens != PAD_ID
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.dropout(self.token_embedding(tokens) + self.position_embedding(positions))
        # (batch, 1, 1, keys); an all-padding row attends to everything rather than to nothing
        keep = (real | ~real.any(dim=1, keepdim=True))[:, None, None, :]
        for block in self.blocks:
            x = block(x, keep)
        weights = real.unsqueeze(-1).to(x.dtype)
        pooled = (self.norm(x) * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        return self.head(pooled)


def initialise(module: nn.Module) -> None:
    """Linear weights and biases uniform(+-1/sqrt(fan_in)); embeddings normal(0, EMBEDDING_STD)
    with a zero padding row; norm scales 1 and shifts 0."""
    if isinstance(module, nn.Linear):
        bound = 1 / math.sqrt(module.in_features)
        nn.init.uniform_(module.weight, -bound, bound)
        nn.init.uniform_(module.bias, -bound, bound)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=recipe.EMBEDDING_STD)
        if module.padding_idx is not None:
            nn.init.zeros_(module.weight[module.padding_idx])
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def build_model(config: ModelConfig, preprocessor: Preprocessor) -> nn.Module:
    if config.backbone != "default":
        from {{ cookiecutter.package_name }} import pretrained  # needs requirements/pretrained.txt

        return pretrained.build(config, preprocessor)
    return TextTransformer(
        preprocessor.vocab_size, preprocessor.max_length, config, preprocessor.output_size
    )
{%- else -%}
"""An MLP over standardised numeric columns and embedded categorical columns.

Inputs (those the data has): `numeric`, float32 of shape (batch, numeric columns), and
`categorical`, int32 of shape (batch, categorical columns) with 0 for unknown values.
Output: one logit per class, or one value (the standardised target) for regression.

The recipe (initialisation) is the one the TensorFlow and JAX templates use too.
"""

from __future__ import annotations

import torch
from torch import nn

from {{ cookiecutter.package_name }}.config import ModelConfig
from {{ cookiecutter.package_name }}.data import Preprocessor


class TabularMLP(nn.Module):
    def __init__(
        self,
        num_numeric: int,
        cardinalities: list[int],
        config: ModelConfig,
        num_outputs: int,
    ) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(
            nn.Embedding(cardinality, config.embedding_dim) for cardinality in cardinalities
        )
        width = num_numeric + config.embedding_dim * len(cardinalities)
        layers: list[nn.Module] = []
        for hidden in config.hidden:
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(config.dropout)]
            width = hidden
        layers.append(nn.Linear(width, num_outputs))
        self.mlp = nn.Sequential(*layers)
        self.apply(initialise)

    def forward(
        self, numeric: torch.Tensor | None = None, categorical: torch.Tensor | None = None
    ) -> torch.Tensor:
        features = [] if numeric is None else [numeric]
        if categorical is not None:
            features += [embed(categorical[:, i]) for i, embed in enumerate(self.embeddings)]
        return self.mlp(torch.cat(features, dim=1))


def initialise(module: nn.Module) -> None:
    """He-normal linear weights (they suit ReLU: faster to learn) and zero biases; embeddings
    normal(0, 1)."""
    if isinstance(module, nn.Linear):
        nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=1.0)


def build_model(config: ModelConfig, preprocessor: Preprocessor) -> nn.Module:
    return TabularMLP(
        len(preprocessor.numeric),
        preprocessor.cardinalities,
        config,
        preprocessor.output_size,
    )
{%- endif %}
