"""What a run says on the console, in the same words whatever the framework."""

from __future__ import annotations

import json
from typing import Any

from {{ cookiecutter.package_name }}.runs import Run

HIGHER_IS_BETTER = {"accuracy": True, "mae": False, "rmse": False}


def start(parameters: int, devices: str, total_steps: int, steps_per_epoch: int) -> str:
    return (
        f"Training {parameters:,} parameters on {devices}: {total_steps} steps,"
        f" {steps_per_epoch} per epoch"
    )


def resumed(step: int, checkpoint: Any) -> str:
    return f"Resumed from step {step} ({checkpoint})"


def nothing_to_do(step: int, total_steps: int) -> str:
    return f"Nothing to do: the run is at step {step} of {total_steps}"


def preempted(step: int, signal_name: str, checkpoints: Any) -> str:
    return (
        f"Preempted by {signal_name}: stopped after step {step}, checkpoint in {checkpoints};"
        " the same command resumes the run there (exit status 75)"
    )


def no_validation(data_path: str) -> str:
    return f"No val split in {data_path}: training without validation"


def validation(epoch: float, step: int, metrics: dict[str, float]) -> str:
    return f"Validation at epoch {epoch:.2f} (step {step}): {_figures(metrics)}"


def summary(run: Run, seconds: float, first_step: int) -> str:
    """The end-of-run summary, read back from the run's metrics.jsonl."""
    records = run.read_metrics()
    trained = [r for r in records if r["split"] == "train" and r["step"] > first_step]
    val = [r for r in records if r["split"] == "val"]
    last_step = max((r["step"] for r in records), default=first_step)
    rate = sum(r["samples_per_s"] or 0 for r in trained) / max(1, len(trained))
    lines = [
        f"Done in {_duration(seconds)}: steps {first_step}-{last_step}, {rate:,.1f} samples/s",
    ]
    if val:
        final = val[-1]
        key = next(k for k in HIGHER_IS_BETTER if k in final)
        scored = [r for r in val if r.get(key) is not None] or [final]
        best = (max if HIGHER_IS_BETTER[key] else min)(scored, key=lambda r: r[key] or 0.0)
        lines.append(f"  final val: {_figures(final)} (step {final['step']})")
        lines.append(f"  best val:  {key} {best[key]:.4f} (step {best['step']})")
    else:
        lines.append("  no validation: the data has no val split")
    lines.append(f"  outputs:   {run.root} (config.yaml, checkpoints/, metrics.jsonl)")
    if (run.root / "report" / "model_card.md").is_file():
        lines.append(f"  report:    {run.root / 'report'} (model_card.md, curves.png)")
    if (tracked := run.root / "mlflow.json").is_file():
        state = json.loads(tracked.read_text())
        lines.append(f"  tracking:  MLflow run {state['run_id']} in {state['where']}")
    return "\n".join(lines)


def _figures(metrics: dict[str, Any]) -> str:
    keys = [k for k in ("loss", "accuracy", "mae", "rmse") if metrics.get(k) is not None]
    return ", ".join(f"{k} {metrics[k]:.4f}" for k in keys)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{seconds:02d}s"
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"
