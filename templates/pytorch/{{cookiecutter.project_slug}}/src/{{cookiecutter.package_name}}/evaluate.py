"""Evaluate a checkpoint on a split.

    python -m {{ cookiecutter.package_name }}.evaluate --checkpoint runs/baseline [--split test]

Prints the metrics and writes them to `<run>/metrics.json`: `loss`, and `accuracy` for
classification or `mae` and `rmse` (in the target's units) for regression.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from {{ cookiecutter.package_name }} import checkpoint, devices
from {{ cookiecutter.package_name }}.config import load_config
from {{ cookiecutter.package_name }}.data import PREPROCESSOR_FILE, Preprocessor, load_split
from {{ cookiecutter.package_name }}.data.pipeline import (
    eval_loader,
    gather_in_order,
    make_dataset,
)
from {{ cookiecutter.package_name }}.devices import Environment
from {{ cookiecutter.package_name }}.errors import exit_on_user_error
from {{ cookiecutter.package_name }}.metrics import compute_metrics
from {{ cookiecutter.package_name }}.model import build_model
from {{ cookiecutter.package_name }}.quiet import add_verbose_argument
from {{ cookiecutter.package_name }}.report import Predictions
from {{ cookiecutter.package_name }}.runs import Run


@torch.no_grad()
def predict(model: nn.Module, loader: DataLoader, env: Environment, precision: str) -> np.ndarray:
    """The model's outputs for the whole split, in order (every process calls this)."""
    model = devices.unwrap(model)
    model.eval()
    outputs = []
    for batch in loader:
        inputs = {k: v.to(env.device) for k, v in batch.items() if k != "target"}
        with devices.autocast(env, precision):
            outputs.append(model(**inputs).float())
    return gather_in_order(torch.cat(outputs), len(loader.dataset), env)


def evaluate(
    model: nn.Module,
    loader: DataLoader,
    preprocessor: Preprocessor,
    env: Environment,
    precision: str,
) -> dict[str, float]:
    outputs = predict(model, loader, env, precision)
    targets = loader.dataset.targets.numpy()
    return compute_metrics(preprocessor.objective, outputs, targets, preprocessor.target_scale)


def split_predictions(run: Run, split: str) -> Predictions:
    """The outputs of the run's latest checkpoint on `split`, on one device (for the report)."""
    path = checkpoint.resolve(run.root)
    config = load_config(run.config_file)
    preprocessor = Preprocessor.load(run.root / PREPROCESSOR_FILE)
    env = devices.single_device()
    model = build_model(config.model, preprocessor)
    step = checkpoint.load_model(path, model)["step"]
    dataset = make_dataset(load_split(config.data, split), preprocessor)
    loader = eval_loader(dataset, env, config.data.batch_size, config.data.num_workers)
    outputs = predict(model.to(env.device), loader, env, config.trainer.precision)
    parameters = sum(p.numel() for p in model.parameters())
    return Predictions(outputs, dataset.targets.numpy(), parameters, step)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Evaluate a checkpoint.")
    parser.add_argument(
        "--checkpoint", type=Path, required=True, help="a .pt file, or a run directory (latest)"
    )
    parser.add_argument("--split", default="val", help="val, test or train")
    add_verbose_argument(parser)
    args = parser.parse_args(argv)

    path = checkpoint.resolve(args.checkpoint)
    run = Run.containing(path)
    config = load_config(run.config_file)
    preprocessor = Preprocessor.load(run.root / PREPROCESSOR_FILE)
    env = devices.single_device()
    model = build_model(config.model, preprocessor)
    step = checkpoint.load_model(path, model)["step"]
    dataset = make_dataset(load_split(config.data, args.split), preprocessor)
    loader = eval_loader(dataset, env, config.data.batch_size, config.data.num_workers)
    metrics = evaluate(model.to(env.device), loader, preprocessor, env, config.trainer.precision)

    report = {"split": args.split, "checkpoint": str(path), "step": step, **metrics}
    (run.root / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    for name, value in metrics.items():
        print(f"{args.split} {name}: {value:.4f}")


if __name__ == "__main__":
    main()
