"""Evaluate a checkpoint on a split.

    python -m {{ cookiecutter.package_name }}.evaluate --checkpoint runs/baseline [--split test]

`--checkpoint` is a run directory (its newest checkpoint) or a `checkpoints/ckpt-<step>` prefix.
Prints the metrics and writes them to `runs/<run>/metrics.json`: `loss` and `accuracy` for
classification, `loss`, `mae` and `rmse` for regression (see `metrics.py`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from {{ cookiecutter.package_name }}.checkpoint import load_trained
from {{ cookiecutter.package_name }}.data import Preprocessor, load_split, pipeline
from {{ cookiecutter.package_name }}.errors import exit_on_user_error
from {{ cookiecutter.package_name }}.metrics import compute_metrics
from {{ cookiecutter.package_name }}.quiet import add_verbose_argument
from {{ cookiecutter.package_name }}.report import Predictions
from {{ cookiecutter.package_name }}.runs import Run


def make_predictor(
    model: keras.Model, strategy: tf.distribute.Strategy
) -> Callable[[tf.data.Dataset], tuple[np.ndarray, np.ndarray]]:
    """A function from a dataset to its outputs and targets, each replica predicting its share."""

    @tf.function(reduce_retracing=True)
    def step(batch: tuple[dict, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        outputs, targets = strategy.run(
            lambda inputs, targets: (model(inputs, training=False), targets), args=batch
        )
        return strategy.gather(outputs, axis=0), strategy.gather(targets, axis=0)

    def predict(dataset: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
        results = [step(batch) for batch in strategy.experimental_distribute_dataset(dataset)]
        return tuple(np.concatenate([r[i].numpy() for r in results]) for i in (0, 1))

    return predict


def split_metrics(
    predict: Callable[[tf.data.Dataset], tuple[np.ndarray, np.ndarray]],
    dataset: tf.data.Dataset,
    preprocessor: Preprocessor,
) -> dict[str, float]:
    outputs, targets = predict(dataset)
    return compute_metrics(preprocessor.objective, outputs, targets, preprocessor.target_scale)


def split_predictions(run: Run, split: str) -> Predictions:
    """The outputs of the run's newest checkpoint on `split` (for the report)."""
    trained = load_trained(run.root)
    examples = load_split(trained.config.data, split)
    dataset = pipeline.evaluation_dataset(examples, trained.preprocessor, trained.config.data)
    outputs, targets = make_predictor(trained.model, tf.distribute.get_strategy())(dataset)
    step = int(trained.checkpoint.rsplit("-", 1)[-1])
    return Predictions(outputs, targets, trained.model.count_params(), step)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Evaluate a checkpoint.")
    parser.add_argument("--checkpoint", type=Path, required=True, help="runs/<run> or a ckpt-N")
    parser.add_argument("--split", default="val", help="val, test or train")
    add_verbose_argument(parser)
    args = parser.parse_args(argv)
    trained = load_trained(args.checkpoint)
    examples = load_split(trained.config.data, args.split)
    dataset = pipeline.evaluation_dataset(examples, trained.preprocessor, trained.config.data)
    predict = make_predictor(trained.model, tf.distribute.get_strategy())
{%- if cookiecutter.task == "image" %}
    with pipeline.data_errors():
        metrics = split_metrics(predict, dataset, trained.preprocessor)
{%- else %}
    metrics = split_metrics(predict, dataset, trained.preprocessor)
{%- endif %}
    (trained.run.root / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"{trained.checkpoint} on {args.split} ({len(examples)} examples):")
    for name, value in metrics.items():
        print(f"  {name:<10} {value:.4f}")


if __name__ == "__main__":
    main()
