"""The JAX recipe-parity probe: the project's own model (`create_model`), optimizer and schedule
(`make_optimizer`), loss and jitted training step (`make_train_step`, via `init_state` on the
project's mesh) driven on given weights and batches. See protocol.py.

NNX parameters and batch statistics map to PyTorch's canonical names and layouts: kernels
`weight` (convolutions HWIO -> OIHW, dense (in, out) -> (out, in)), norm `scale` -> `weight`,
`mean`/`var` -> `running_mean`/`running_var`, embeddings `weight`; the text MLP's `mlp_in` and
`mlp_out` are PyTorch's `mlp.0` and `mlp.2`, the tabular `hidden.j` and `head` its `mlp.{3j}` and
`mlp.{3 * len(hidden)}`, and the tabular model's one embedding table (column i's rows from
`offsets[i]`) PyTorch's `embeddings.{i}.weight`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import protocol
from flax import nnx

Arrays = protocol.Arrays
WEIGHTS = nnx.Any(nnx.Param, nnx.BatchStat)
LEAVES = {
    "kernel": "weight",
    "scale": "weight",
    "embedding": "weight",
    "bias": "bias",
    "mean": "running_mean",
    "var": "running_var",
}


def project_module(name: str) -> ModuleType:
    """`<package>.<name>` of the project in the working directory (its one package in src/)."""
    (package,) = [p.name for p in Path("src").iterdir() if (p / "__init__.py").is_file()]
    return importlib.import_module(f"{package}.{name}")


def canonical_name(path: tuple[Any, ...], config: Any) -> str:
    parts = [str(part) for part in path if part != "layers"]  # nnx.Sequential's list
    parts[-1] = LEAVES[parts[-1]]
    name = ".".join(parts).replace("mlp_in.", "mlp.0.").replace("mlp_out.", "mlp.2.")
    hidden = getattr(config, "hidden", None)
    if hidden is not None:  # tabular: hidden layers and head are PyTorch's one nn.Sequential
        if parts[0] == "hidden":
            name = f"mlp.{3 * int(parts[1])}.{parts[-1]}"
        elif parts[0] == "head":
            name = f"mlp.{3 * len(hidden)}.{parts[-1]}"
    return name


def to_canonical(array: np.ndarray, leaf: str) -> np.ndarray:
    if leaf == "kernel" and array.ndim == 4:
        return array.transpose(3, 2, 0, 1)
    if leaf == "kernel":
        return array.T
    return array


def from_canonical(array: np.ndarray, leaf: str) -> np.ndarray:
    if leaf == "kernel" and array.ndim == 4:
        return array.transpose(2, 3, 1, 0)
    if leaf == "kernel":
        return array.T
    return array


def pipeline_dtype(array: np.ndarray) -> np.dtype:
    """The input pipeline's dtypes: int32 for integer inputs and class targets, else float32."""
    return np.dtype(np.int32 if array.dtype.kind in "iu" else np.float32)


class JaxProbe:
    def __init__(self) -> None:
        self.config = project_module("config")
        self.data = project_module("data")
        self.model = project_module("model")
        self.train_module = project_module("train")
        self.devices = project_module("devices")

    def _setup(self, overrides: list[str]) -> tuple[Any, Any]:
        config = self.config.load_config(overrides=overrides)
        train_split = self.data.load_split(config.data, "train")
        return config, self.data.Preprocessor.fit(train_split, config.data)

    def _build(self, overrides: list[str], seed: int = 0) -> tuple[Any, Any, nnx.Module]:
        config, preprocessor = self._setup(overrides)
        rngs = nnx.Rngs(params=seed, dropout=seed + 1)
        model = self.model.create_model(config.model, preprocessor, jnp.float32, rngs)
        return config, preprocessor, model

    def _weights(self, model: nnx.Module, config: Any) -> Arrays:
        weights = {
            canonical_name(path, config.model): to_canonical(np.asarray(v[...]), str(path[-1]))
            for path, v in nnx.state(model, WEIGHTS).flat_state()
        }
        if "embeddings.weight" in weights:  # tabular: one table, PyTorch's one per column
            table = weights.pop("embeddings.weight")
            for i, rows in enumerate(np.split(table, model.offsets[1:])):
                weights[f"embeddings.{i}.weight"] = rows
        return weights

    def _load(self, model: nnx.Module, config: Any, weights: Arrays) -> None:
        weights = dict(weights)
        if isinstance(getattr(model, "offsets", None), tuple):
            columns = [weights.pop(f"embeddings.{i}.weight") for i in range(len(model.offsets))]
            weights["embeddings.weight"] = np.concatenate(columns)
        flat = dict(nnx.state(model, WEIGHTS).flat_state())
        names = {canonical_name(path, config.model): path for path in flat}
        if set(names) != set(weights):
            raise SystemExit(f"weights do not match the model: {sorted(set(names) ^ set(weights))}")
        for name, path in names.items():
            array = from_canonical(weights[name], str(path[-1]))
            if array.shape != flat[path].shape:
                raise SystemExit(f"{name}: shape {array.shape}, the model has {flat[path].shape}")
            flat[path] = flat[path].replace(jnp.asarray(array, flat[path].dtype))
        nnx.update(model, nnx.State.from_flat_path(flat))

    def shapes(self, task: str) -> dict[str, list[int]]:
        config, _, model = self._build([])
        return {name: list(a.shape) for name, a in self._weights(model, config).items()}

    def init_stats(self, task: str, seed: int) -> dict[str, list[float]]:
        config, _, model = self._build([], seed)
        return protocol.statistics(self._weights(model, config))

    def batches(self, task: str, steps: int, batch_size: int) -> list[Arrays]:
        config, preprocessor = self._setup([])
        examples = self.data.load_split(config.data, "train")
        return protocol.encode_batches(examples, preprocessor, steps, batch_size)

    def train(
        self, task: str, weights: Arrays, batches: list[Arrays], steps: int, overrides: list[str]
    ) -> tuple[list[float], list[float], Arrays]:
        fixed = ["model.dropout=0", "trainer.precision=fp32", f"trainer.max_steps={steps}"]
        config, preprocessor = self._setup([*fixed, *overrides])
        train = self.train_module
        mesh = self.devices.create_mesh(config.trainer)
        with jax.set_mesh(mesh):
            tx, schedule = train.make_optimizer(config.optim, steps)
            model, optimizer = train.init_state(config, preprocessor, jnp.float32, tx)
            self._load(model, config, weights)
            train_step = train.make_train_step(preprocessor.objective, compile=True)
            sharding = self.devices.batch_sharding(mesh)
            losses, lrs = [], []
            for step, batch in enumerate(batches[:steps]):
                arrays = self.devices.put_batch(
                    {k: np.asarray(v, pipeline_dtype(v)) for k, v in batch.items()}, sharding
                )
                targets = arrays.pop("target")
                losses.append(float(train_step(model, optimizer, arrays, targets)))
                lrs.append(float(schedule(step)))
        return losses, lrs, self._weights(model, config)


if __name__ == "__main__":
    protocol.main(JaxProbe())
