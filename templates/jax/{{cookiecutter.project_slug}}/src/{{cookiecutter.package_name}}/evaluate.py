"""Evaluation of a checkpoint on a split:

    python -m {{ cookiecutter.package_name }}.evaluate --checkpoint runs/baseline [--split val]

A run directory means its latest checkpoint; `key=value` arguments override the run's config
(e.g. `data.path=...`). Prints the metrics and writes them to `runs/<run>/metrics.json`.
Training calls `evaluate` after every epoch.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils
from jax.sharding import Mesh

from {{ cookiecutter.package_name }} import devices
from {{ cookiecutter.package_name }}.checkpoint import load_trained
from {{ cookiecutter.package_name }}.config import Config
from {{ cookiecutter.package_name }}.data import Preprocessor, load_split
from {{ cookiecutter.package_name }}.data.pipeline import Split, eval_batches
from {{ cookiecutter.package_name }}.errors import exit_on_user_error
from {{ cookiecutter.package_name }}.metrics import compute_metrics
from {{ cookiecutter.package_name }}.quiet import add_verbose_argument
from {{ cookiecutter.package_name }}.report import Predictions
from {{ cookiecutter.package_name }}.runs import Run


def predict(model: nnx.Module, inputs: dict[str, jax.Array]) -> jax.Array:
    return model(**inputs)


predict_jit = nnx.jit(predict)


def evaluate(
    model: nnx.Module, split: Split, preprocessor: Preprocessor, config: Config, mesh: Mesh
) -> dict[str, float]:
    """Metrics of `model` over every example of `split`, batches spread over the mesh."""
    outputs, targets = predict_split(model, split, config, mesh)
    return compute_metrics(preprocessor.objective, outputs, targets, preprocessor.target_scale)


def predict_split(
    model: nnx.Module, split: Split, config: Config, mesh: Mesh
) -> tuple[np.ndarray, np.ndarray]:
    """The outputs of `model` on every example of `split`, and their targets."""
    forward = predict_jit if config.trainer.compile else predict
    sharding = devices.batch_sharding(mesh)
    batches = eval_batches(
        split,
        devices.local_batch_size(config.data.batch_size, mesh),
        config.data.batch_size,
        config.data.num_workers,
    )
    model.eval()
    outputs, indices = [], []
    for batch in batches:
        del batch["target"]
        arrays = devices.put_batch(batch, sharding)
        indices.append(_gather(arrays.pop("index")))
        outputs.append(_gather(forward(model, arrays)))
    model.train()
    index = np.concatenate(indices)
    real = index >= 0
    return np.concatenate(outputs)[real], split.targets[index[real]]


def split_predictions(run: Run, split: str) -> Predictions | None:
    """The outputs of the run's latest checkpoint on `split` (for the report); None in a job of
    several processes (the `report` module writes them after, from the checkpoint)."""
    if jax.process_count() > 1:
        return None
    trained = load_trained(run.root)
    examples = Split(load_split(trained.config.data, split), trained.preprocessor)
    with jax.set_mesh(trained.mesh):
        outputs, targets = predict_split(trained.model, examples, trained.config, trained.mesh)
    parameters = sum(p.size for p in jax.tree.leaves(nnx.state(trained.model, nnx.Param)))
    return Predictions(outputs, targets, parameters, trained.step)


def _gather(array: jax.Array) -> np.ndarray:
    """The whole of a global array, on every process."""
    return multihost_utils.process_allgather(array, tiled=True)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Evaluate a checkpoint on a split.")
    parser.add_argument(
        "--checkpoint", type=Path, required=True, help="runs/<name> (its latest) or a checkpoint"
    )
    parser.add_argument("--split", default="val", choices=("train", "val", "test"))
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value", help="override the run's config: data.path=..."
    )
    add_verbose_argument(parser)
    args = parser.parse_args(argv)
    trained = load_trained(args.checkpoint, args.overrides)
    split = Split(load_split(trained.config.data, args.split), trained.preprocessor)
    metrics = evaluate(trained.model, split, trained.preprocessor, trained.config, trained.mesh)
    print(f"{args.split} ({len(split)} examples, step {trained.step}):")
    for name, value in metrics.items():
        print(f"  {name:<10} {value:.4f}")
    (trained.run.root / "metrics.json").write_text(
        json.dumps({"split": args.split, "step": trained.step, **metrics}, indent=2)
    )


if __name__ == "__main__":
    main()
