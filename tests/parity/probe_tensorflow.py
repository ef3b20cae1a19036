"""The TensorFlow recipe-parity probe: the project's own model, optimizer, schedule, loss and
training step (`train.make_train_steps`) driven on given weights and batches. See protocol.py.

Keras variables map to PyTorch's canonical names and layouts: convolution kernels HWIO <-> OIHW,
dense kernels (in, out) <-> (out, in), batch norm gamma/beta/moving statistics <-> weight/bias/
running statistics; the fused qkv projection has the same column order in both.
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path
from types import ModuleType

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import protocol
import tensorflow as tf

Arrays = protocol.Arrays

# Keras layer path -> canonical (PyTorch) module name; tabular's MLP layers are numbered apart
LAYER_NAMES = {
    "image": [
        (r"stem_conv", "stem.0"),
        (r"stem_bn", "stem.1"),
        (r"block(\d+)_(conv1|conv2|bn1|bn2)", r"blocks.\1.\2"),
        (r"block(\d+)_shortcut_conv", r"blocks.\1.shortcut.0"),
        (r"block(\d+)_shortcut_bn", r"blocks.\1.shortcut.1"),
        (r"head", "head"),
    ],
    "text": [
        (r"block(\d+)_(norm1|norm2)", r"blocks.\1.\2"),
        (r"block(\d+)_attn/(qkv|proj)", r"blocks.\1.attn.\2"),
        (r"block(\d+)_mlp1", r"blocks.\1.mlp.0"),
        (r"block(\d+)_mlp2", r"blocks.\1.mlp.2"),
        (r"embedding/tokens", "token_embedding"),
        (r"embedding/positions", "position_embedding"),
        (r"norm", "norm"),
        (r"head", "head"),
    ],
    "tabular": [(r"embedding(\d+)", r"embeddings.\1")],
}
VARIABLE_NAMES = {
    "kernel": "weight",
    "embeddings": "weight",
    "gamma": "weight",
    "beta": "bias",
    "bias": "bias",
    "moving_mean": "running_mean",
    "moving_variance": "running_var",
}


def project_module(name: str) -> ModuleType:
    """`<package>.<name>` of the project in the working directory (its one package in src/)."""
    (package,) = [p.name for p in Path("src").iterdir() if (p / "__init__.py").is_file()]
    return importlib.import_module(f"{package}.{name}")


def sublayers(layer: keras.Layer, prefix: str = ""):
    """(path, layer) of every layer holding variables, nested layers as `outer/inner`."""
    path = f"{prefix}{layer.name}"
    children = [child for child in getattr(layer, "_layers", []) if child.variables]
    if not children:
        yield path, layer
    for child in children:
        yield from sublayers(child, f"{path}/")


def canonical_prefix(task: str, path: str, hidden_layers: int) -> str | None:
    if task == "tabular":  # mlp = [Linear, ReLU, Dropout] per hidden layer, then the head
        if match := re.fullmatch(r"hidden(\d+)", path):
            return f"mlp.{3 * int(match[1])}"
        if path == "head":
            return f"mlp.{3 * hidden_layers}"
    for pattern, replacement in LAYER_NAMES[task]:
        if match := re.fullmatch(pattern, path):
            return match.expand(replacement)
    return None


def canonical_variables(model: keras.Model, task: str) -> dict[str, keras.Variable]:
    """{canonical name: Keras variable} of every weight the canonical state_dict holds."""
    hidden_layers = sum(1 for layer in model.layers if re.fullmatch(r"hidden\d+", layer.name))
    found = {}
    for layer in model.layers:
        for path, sublayer in sublayers(layer):
            prefix = canonical_prefix(task, path, hidden_layers)
            for variable in sublayer.variables if prefix else []:
                if variable.name in VARIABLE_NAMES:
                    found[f"{prefix}.{VARIABLE_NAMES[variable.name]}"] = variable
    return found


def to_canonical(array: np.ndarray, variable: keras.Variable) -> np.ndarray:
    if variable.name != "kernel":
        return array
    return array.transpose(3, 2, 0, 1) if array.ndim == 4 else array.T  # HWIO -> OIHW, (in, out)


def from_canonical(array: np.ndarray, variable: keras.Variable) -> np.ndarray:
    if variable.name != "kernel":
        return array
    return array.transpose(2, 3, 1, 0) if array.ndim == 4 else array.T


class TensorFlowProbe:
    def __init__(self) -> None:
        self.config = project_module("config")
        self.data = project_module("data")
        self.model = project_module("model")
        self.optim = project_module("optim")
        self.train_module = project_module("train")

    def _setup(self, overrides: list[str]):
        config = self.config.load_config(overrides=overrides)
        train_split = self.data.load_split(config.data, "train")
        return config, self.data.Preprocessor.fit(train_split, config.data)

    def _build(self, task: str, overrides: list[str], seed: int = 0):
        config, preprocessor = self._setup(overrides)
        keras.config.set_dtype_policy("float32")
        keras.utils.set_random_seed(seed)
        return config, preprocessor, self.model.build_model(config.model, preprocessor)

    def _weights(self, model: keras.Model, task: str) -> Arrays:
        variables = canonical_variables(model, task)
        return {name: to_canonical(np.array(v.numpy()), v) for name, v in variables.items()}

    def shapes(self, task: str) -> dict[str, list[int]]:
        _, _, model = self._build(task, [])
        return {name: list(array.shape) for name, array in self._weights(model, task).items()}

    def init_stats(self, task: str, seed: int) -> dict[str, list[float]]:
        _, _, model = self._build(task, [], seed)
        return protocol.statistics(self._weights(model, task))

    def batches(self, task: str, steps: int, batch_size: int) -> list[Arrays]:
        config, preprocessor = self._setup([])
        examples = self.data.load_split(config.data, "train")
        return protocol.encode_batches(examples, preprocessor, steps, batch_size)

    def train(
        self, task: str, weights: Arrays, batches: list[Arrays], steps: int, overrides: list[str]
    ) -> tuple[list[float], list[float], Arrays]:
        batch_size = len(batches[0]["target"])
        fixed = [
            "model.dropout=0",
            "trainer.precision=fp32",
            f"trainer.max_steps={steps}",
            f"data.batch_size={batch_size}",
        ]
        config, preprocessor, model = self._build(task, [*fixed, *overrides])
        variables = canonical_variables(model, task)
        if set(weights) != set(variables):
            mismatched = sorted(set(weights) ^ set(variables))
            raise SystemExit(f"weights do not match the model: {mismatched}")
        for name, variable in variables.items():
            variable.assign(from_canonical(weights[name], variable).astype(variable.dtype))
        strategy = tf.distribute.get_strategy()
        optimizer = self.optim.build_optimizer(config.optim, steps, "fp32")
        optimizer.build(model.trainable_variables)
        train_steps = self.train_module.make_train_steps(
            model, optimizer, strategy, config, preprocessor.objective
        )
        batches = batches[:steps]
        inputs = {
            name: np.stack([batch[name] for batch in batches]).astype(dtype)
            for name, (_, dtype) in preprocessor.input_spec.items()
        }
        targets = np.stack([batch["target"] for batch in batches])
        iterator = iter(tf.data.Dataset.from_tensor_slices((inputs, targets)))
        losses, lrs = [], []
        for _ in range(steps):
            lrs.append(float(optimizer.learning_rate))
            losses.append(float(train_steps(iterator, tf.constant(1))))
        return losses, lrs, self._weights(model, task)


if __name__ == "__main__":
    protocol.main(TensorFlowProbe())
