"""The report of a run, written at the end of training and by

    python -m {{ cookiecutter.package_name }}.report runs/baseline

into `runs/<name>/report/`: `curves.png` (train and val loss, the val metric per step), for
classification `confusion_matrix.png` and per-class precision, recall and F1, for regression
`predicted_vs_true.png`, `report.json` (the figures) and `model_card.md`. The plots are drawn
on matplotlib `Figure`s, rendered by its Agg backend (no display needed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from {{ cookiecutter.package_name }}.config import Config, load_config
from {{ cookiecutter.package_name }}.console import HIGHER_IS_BETTER
from {{ cookiecutter.package_name }}.data import (
    PREPROCESSOR_FILE,
    Preprocessor,
    has_split,
    load_split,
)
from {{ cookiecutter.package_name }}.errors import UserError, exit_on_user_error
from {{ cookiecutter.package_name }}.quiet import add_verbose_argument
from {{ cookiecutter.package_name }}.runs import Run

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FRAMEWORK = "{{ cookiecutter._framework }}"
FRAMEWORK_PACKAGE = {"pytorch": "torch", "tensorflow": "tensorflow", "jax": "jax"}[FRAMEWORK]
SPLITS = ("train", "val", "test")


@dataclass
class Predictions:
    """The model's outputs on a split (logits, or the standardised value) and its targets."""

    outputs: np.ndarray
    targets: np.ndarray
    parameters: int
    step: int


def write(run: Run, config: Config) -> Path | None:
    """Write the run's report (when `log.report` is on); returns its folder."""
    if not config.log.report:
        return None
    from {{ cookiecutter.package_name }}.evaluate import split_predictions

    folder = run.root / "report"
    folder.mkdir(exist_ok=True)
    preprocessor = Preprocessor.load(run.root / PREPROCESSOR_FILE)
    records = run.read_metrics()
    plot_curves(records, folder / "curves.png")
    figures: dict[str, Any] = {"sizes": split_sizes(config)}
    predictions = split_predictions(run, "val") if has_split(config.data, "val") else None
    if predictions is not None:
        figures["parameters"], figures["step"] = predictions.parameters, predictions.step
        if preprocessor.objective == "classification":
            figures["classes"] = classification_report(predictions, preprocessor, folder)
        else:
            figures["regression"] = regression_report(predictions, preprocessor, folder)
    (folder / "report.json").write_text(json.dumps(figures, indent=2) + "\n")
    (folder / "model_card.md").write_text(model_card(run, config, records, figures))
    return folder


def _figure(width: float, height: float) -> Figure:
    """A matplotlib figure; matplotlib loads on the first one, so a run without a report never
    loads it."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def split_sizes(config: Config) -> dict[str, int]:
    return {s: len(load_split(config.data, s)) for s in SPLITS if has_split(config.data, s)}


def plot_curves(records: list[dict[str, Any]], path: Path) -> None:
    train = [r for r in records if r["split"] == "train"]
    val = [r for r in records if r["split"] == "val"]
    metric = next((k for k in HIGHER_IS_BETTER if val and k in val[-1]), None)
    figure = _figure(11 if metric else 6, 4)
    axes = figure.subplots(1, 2 if metric else 1)
    loss_axis = axes[0] if metric else axes
    for split, lines in (("train", train), ("val", val)):
        points = [(r["step"], r["loss"]) for r in lines if r.get("loss") is not None]
        if points:
            marker = "o" if split == "val" else "."
            loss_axis.plot(*zip(*points, strict=True), marker=marker, label=f"{split} loss")
    loss_axis.set(xlabel="step", ylabel="loss", title="Loss")
    loss_axis.legend()
    if metric:
        points = [(r["step"], r[metric]) for r in val if r.get(metric) is not None]
        axes[1].plot(*zip(*points, strict=True), marker="o", color="tab:green")
        axes[1].set(xlabel="step", ylabel=metric, title=f"val {metric}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def classification_report(
    predictions: Predictions, preprocessor: Preprocessor, folder: Path
) -> dict[str, dict[str, float]]:
    """The confusion matrix (rows: true class, columns: predicted) and each class's precision,
    recall, F1 and support."""
    names = preprocessor.labels.names
    matrix = confusion_matrix(predictions.outputs.argmax(-1), predictions.targets, len(names))
    plot_confusion_matrix(matrix, names, folder / "confusion_matrix.png")
    (folder / "confusion_matrix.json").write_text(
        json.dumps({"classes": names, "matrix": matrix.tolist()}) + "\n"
    )
    per_class = {}
    for i, name in enumerate(names):
        true_positive, predicted, actual = matrix[i, i], matrix[:, i].sum(), matrix[i].sum()
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "support": int(actual),
        }
    return per_class


def confusion_matrix(predicted: np.ndarray, targets: np.ndarray, classes: int) -> np.ndarray:
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (targets.astype(np.int64), predicted.astype(np.int64)), 1)
    return matrix


def plot_confusion_matrix(matrix: np.ndarray, names: list[str], path: Path) -> None:
    size = max(4.0, 0.5 * len(names) + 2)
    figure = _figure(size, size)
    axis = figure.subplots()
    axis.imshow(matrix, cmap="Blues")
    ticks = range(len(names))
    axis.set_xticks(ticks, names, rotation=45, ha="right")
    axis.set_yticks(ticks, names)
    axis.set(xlabel="predicted", ylabel="true", title="Confusion matrix (val)")
    if len(names) <= 30:
        threshold = matrix.max() / 2
        for (row, column), count in np.ndenumerate(matrix):
            color = "white" if count > threshold else "black"
            axis.text(column, row, str(count), ha="center", va="center", color=color)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def regression_report(
    predictions: Predictions, preprocessor: Preprocessor, folder: Path
) -> dict[str, float]:
    """Predicted against true values, in the target's units."""
    mean, scale = preprocessor.target_stats
    predicted = predictions.outputs.reshape(len(predictions.targets)) * scale + mean
    true = predictions.targets * scale + mean
    figure = _figure(5, 5)
    axis = figure.subplots()
    axis.scatter(true, predicted, s=12, alpha=0.7)
    low, high = float(min(true.min(), predicted.min())), float(max(true.max(), predicted.max()))
    axis.plot([low, high], [low, high], color="gray", linestyle="--", label="predicted = true")
    axis.set(xlabel="true", ylabel="predicted", title="Predicted vs true (val)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(folder / "predicted_vs_true.png", dpi=100)
    errors = predicted - true
    return {
        "mae": float(np.abs(errors).mean()),
        "rmse": float(np.sqrt((errors**2).mean())),
        "bias": float(errors.mean()),
        "count": len(true),
    }


def model_card(
    run: Run, config: Config, records: list[dict[str, Any]], figures: dict[str, Any]
) -> str:
    train = [r for r in records if r["split"] == "train"]
    val = [r for r in records if r["split"] == "val"]
    sizes = figures["sizes"]
    lines = [f"# Model card: {run.root.name}", "", "## Data", ""]
    lines.append(f"- path: `{config.data.path}`")
    lines += [f"- {split}: {count} examples" for split, count in sizes.items()]
    preprocessor = Preprocessor.load(run.root / PREPROCESSOR_FILE)
    if preprocessor.objective == "classification":
        names = preprocessor.labels.names
        lines.append(f"- classes ({len(names)}): {', '.join(names)}")
    else:
        lines.append("- objective: regression")
    lines += ["", "## Model", ""]
    if "parameters" in figures:
        lines.append(f"- parameters: {figures['parameters']:,}")
    lines.append(f"- config: {_flat(config.model.model_dump())}")
    lines += _backbone(run)
    lines += ["", "## Training", ""]
    steps = max((r["step"] for r in records), default=0)
    rates = [r["samples_per_s"] for r in train if r.get("samples_per_s")]
    lines.append(f"- steps: {steps} (batch size {config.data.batch_size})")
    if rates:
        lines.append(
            f"- throughput: {sum(rates) / len(rates):,.1f} samples/s (mean of the log lines)"
        )
        lines.append(f"- training time: {_duration(_training_seconds(train, config))}")
    lines.append(f"- optimizer: {_flat(config.optim.model_dump())}")
    lines.append(f"- trainer: {_flat(config.trainer.model_dump())}")
    lines.append(f"- seed: {config.seed}; full config: `{run.config_file}`")
    lines.append(f"- hardware: {describe_hardware()}")
    lines += ["", "## Results (val)", ""]
    lines += _results(val, figures)
    lines += ["", "## Export formats", ""]
    lines += _exports(run)
    lines += ["", "## Limitations", ""]
    lines += _limitations(sizes, val, preprocessor.objective)
    return "\n".join(lines) + "\n"


def _results(val: list[dict[str, Any]], figures: dict[str, Any]) -> list[str]:
    if not val:
        return ["- no validation: the data has no val split"]
    final = val[-1]
    lines = [
        f"- final (step {final['step']}): "
        + ", ".join(
            f"{k} {final[k]:.4f}" for k in ("loss", *HIGHER_IS_BETTER) if final.get(k) is not None
        )
    ]
    if "classes" in figures:
        lines += ["", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        lines += [
            f"| {name} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f}"
            f" | {c['support']} |"
            for name, c in figures["classes"].items()
        ]
        lines += ["", "Confusion matrix: `confusion_matrix.png`; curves: `curves.png`."]
    elif "regression" in figures:
        r = figures["regression"]
        lines.append(
            f"- mae {r['mae']:.4f}, rmse {r['rmse']:.4f}, mean error (bias) {r['bias']:.4f}"
        )
        lines += ["", "Predicted vs true: `predicted_vs_true.png`; curves: `curves.png`."]
    return lines


def _backbone(run: Run) -> list[str]:
    """The pretrained weights' source, hash and licence, when the run started from some."""
    path = run.root / "backbone.json"
    if not path.is_file():
        return []
    record = json.loads(path.read_text())
    return [
        f"- pretrained weights: `{record['source']}` ({record['library']}), sha256"
        f" {record['sha256']}, licence: {record['license']}"
    ]


def _exports(run: Run) -> list[str]:
    checks = run.export / "export.json"
    if not checks.is_file():
        return [f"- not exported yet: `python -m {__package__}.export --checkpoint {run.root}`"]
    return [f"- {entry}" for entry in sorted(p.name for p in run.export.iterdir())]


def _limitations(sizes: dict[str, int], val: list[dict[str, Any]], objective: str) -> list[str]:
    lines = ["- measured on the val split only; check on data from where the model will be used"]
    count = sizes.get("val", 0)
    if val and objective == "classification" and count and val[-1].get("accuracy") is not None:
        low, high = wilson_interval(val[-1]["accuracy"], count)
        lines.append(
            f"- {count} val examples: the accuracy is within [{low:.3f}, {high:.3f}] with 95%"
            " confidence (Wilson interval)"
        )
    lines.append("- one seed: compare several (`make seeds N=3`) before trusting a difference")
    return lines


def wilson_interval(proportion: float, count: int, z: float = 1.96) -> tuple[float, float]:
    center = (proportion + z * z / (2 * count)) / (1 + z * z / count)
    spread = z * math.sqrt(proportion * (1 - proportion) / count + z * z / (4 * count * count))
    half = spread / (1 + z * z / count)
    return max(0.0, center - half), min(1.0, center + half)


def _training_seconds(train: list[dict[str, Any]], config: Config) -> float:
    """Time in training steps, from each log line's steps and throughput."""
    seconds, previous = 0.0, 0
    for record in train:
        if record.get("samples_per_s"):
            seconds += (
                (record["step"] - previous) * config.data.batch_size / record["samples_per_s"]
            )
        previous = record["step"]
    return seconds


def describe_hardware() -> str:
    parts = [f"{platform.machine()} {platform.system()}", f"{os.cpu_count()} CPUs"]
    if shutil.which("nvidia-smi"):
        query = ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"]
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            output = subprocess.run(query, capture_output=True, text=True, timeout=10).stdout
            gpus = [line.strip() for line in output.splitlines() if line.strip()]
            parts += [f"{gpus.count(name)} x {name}" for name in sorted(set(gpus))]
    try:
        parts.append(f"{FRAMEWORK_PACKAGE} {metadata.version(FRAMEWORK_PACKAGE)}")
    except metadata.PackageNotFoundError:
        parts.append(FRAMEWORK)
    parts.append(f"Python {platform.python_version()}")
    return ", ".join(parts)


def _flat(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the report of a run.")
    parser.add_argument("run", type=Path, help="a run folder, e.g. runs/baseline")
    add_verbose_argument(parser)
    args = parser.parse_args(argv)
    if not (args.run / "config.yaml").is_file():
        raise UserError(f"{args.run}: not a run folder (no config.yaml)")
    run = Run(args.run)
    config = load_config(run.config_file, ["log.report=true"])
    folder = write(run, config)
    print(f"Report: {folder}/ (model_card.md, curves.png)")


if __name__ == "__main__":
    main()
