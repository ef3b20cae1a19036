"""Export a checkpoint for deployment and check every artifact against the model.

    python -m {{ cookiecutter.package_name }}.export --checkpoint runs/baseline
        [--format onnx] [--verbose]

Writes `<run>/export/`:
- `model.pt2`: a `torch.export` program (`torch.export.load(path).module()`), for PyTorch
  runtimes and AOTInductor;
- `model.onnx`: the same graph as ONNX (dynamo exporter) for ONNX Runtime; `serve` uses it;
- `preprocessor.json`, and `export.json`: the parity check of each artifact.

The batch dimension is dynamic. Each artifact is reloaded and run on real examples at a batch
size other than the one it was exported with; its outputs must match the PyTorch model's within
TOLERANCE (largest absolute difference), or the command fails.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from {{ cookiecutter.package_name }} import checkpoint
from {{ cookiecutter.package_name }}.config import DataConfig, load_config
from {{ cookiecutter.package_name }}.data import (
    PREPROCESSOR_FILE,
    Preprocessor,
    has_split,
    load_split,
)
from {{ cookiecutter.package_name }}.errors import exit_on_user_error
from {{ cookiecutter.package_name }}.inference import ONNX_FILE, load_predictor
from {{ cookiecutter.package_name }}.model import build_model
from {{ cookiecutter.package_name }}.parity import check_parity, report
from {{ cookiecutter.package_name }}.quiet import add_verbose_argument
from {{ cookiecutter.package_name }}.runs import Run

# What exporting our models makes PyTorch say that is no news to a user (`--verbose` shows it).
NOISY_LOGGERS = ("torch.onnx._internal.exporter._registration",)  # "torchvision is not installed"
NOISY_WARNINGS = (
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning),  # torch.export.load
    (r"# The axis name: batch will not be used", UserWarning),  # several inputs share Dim batch
)

PT2_FILE = "model.pt2"
EXPORT_BATCH, CHECK_BATCH = 2, 5
TOLERANCE = 1e-4

Inputs = dict[str, torch.Tensor]
Predict = Callable[[Inputs], np.ndarray]


def export_pt2(model: nn.Module, example: Inputs, path: Path) -> Predict:
    program = torch.export.export(model, (), example, dynamic_shapes=batch_is_dynamic(example))
    torch.export.save(program, path)
    reloaded = torch.export.load(path).module()
    return lambda inputs: reloaded(**inputs).numpy()


def export_onnx(model: nn.Module, example: Inputs, path: Path) -> Predict:
    torch.onnx.export(
        model,
        (),
        path,
        kwargs=example,
        dynamic_shapes=batch_is_dynamic(example),
        input_names=list(example),
        output_names=["outputs"],
        external_data=False,
        verbose=False,
    )
    predict = load_predictor(path.parent)
    return lambda inputs: predict({name: tensor.numpy() for name, tensor in inputs.items()})


EXPORTERS = {"pt2": (PT2_FILE, export_pt2), "onnx": (ONNX_FILE, export_onnx)}


def batch_is_dynamic(inputs: Inputs) -> dict[str, dict[int, torch.export.Dim]]:
    batch = torch.export.Dim("batch")
    return {name: {0: batch} for name in inputs}


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in NOISY_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            for message, category in NOISY_WARNINGS:
                warnings.filterwarnings("ignore", message=message, category=category)
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def real_inputs(preprocessor: Preprocessor, config: DataConfig, size: int) -> Inputs:
    """The first `size` examples of the val split (or train), encoded."""
    examples = load_split(config, "val" if has_split(config, "val") else "train")
    examples = (examples * size)[:size]
    return {name: torch.from_numpy(a) for name, a in preprocessor.encode(examples).items()}


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Export a checkpoint and check the artifacts.")
    parser.add_argument(
        "--checkpoint", type=Path, required=True, help="a .pt file, or a run directory (latest)"
    )
    parser.add_argument("--format", choices=[*EXPORTERS, "all"], default="all")
    add_verbose_argument(parser)
    args = parser.parse_args(argv)

    path = checkpoint.resolve(args.checkpoint)
    run = Run.containing(path)
    config = load_config(run.config_file)
    preprocessor = Preprocessor.load(run.root / PREPROCESSOR_FILE)
    model = build_model(config.model, preprocessor)
    checkpoint.load_model(path, model)
    model.eval()
    run.export.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run.root / PREPROCESSOR_FILE, run.export / PREPROCESSOR_FILE)

    example = real_inputs(preprocessor, config.data, EXPORT_BATCH)
    inputs = real_inputs(preprocessor, config.data, CHECK_BATCH)
    checks = []
    with torch.no_grad(), contextlib.nullcontext() if args.verbose else quiet():
        expected = model(**inputs).numpy()
        for name in EXPORTERS if args.format == "all" else [args.format]:
            filename, exporter = EXPORTERS[name]
            predict = exporter(model, example, run.export / filename)
            checks.append(
                check_parity(name, run.export / filename, expected, predict(inputs), TOLERANCE)
            )
    report(run.export, checks)
    print(f"Exported to {run.export}")


if __name__ == "__main__":
    main()
