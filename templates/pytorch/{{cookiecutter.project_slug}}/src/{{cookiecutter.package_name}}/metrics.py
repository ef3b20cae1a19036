"""Evaluation metrics from model outputs, identical whatever the framework.

Classification: `loss` (mean cross-entropy of the logits) and `accuracy`. Regression: `loss`
(mean squared error of the standardised target, as in training), and `mae` and `rmse` in the
target's own units.
"""

from __future__ import annotations

import numpy as np


def compute_metrics(
    objective: str, outputs: np.ndarray, targets: np.ndarray, target_scale: float = 1.0
) -> dict[str, float]:
    if objective == "classification":
        return classification_metrics(outputs, targets)
    return regression_metrics(outputs.reshape(len(targets)), targets, target_scale)


def classification_metrics(logits: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    logits = logits.astype(np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    loss = -log_probs[np.arange(len(targets)), targets].mean()
    accuracy = (logits.argmax(axis=-1) == targets).mean()
    return {"loss": float(loss), "accuracy": float(accuracy)}


def regression_metrics(
    predictions: np.ndarray, targets: np.ndarray, target_scale: float
) -> dict[str, float]:
    errors = predictions.astype(np.float64) - targets
    return {
        "loss": float(np.mean(errors**2)),
        "mae": float(np.mean(np.abs(errors)) * target_scale),
        "rmse": float(np.sqrt(np.mean(errors**2)) * target_scale),
    }
