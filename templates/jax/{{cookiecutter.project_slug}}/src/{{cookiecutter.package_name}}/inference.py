"""Predictions from an export directory: the serialized StableHLO of `model.jax`, run by JAX.

`serve.py` uses this, so serving needs neither TensorFlow nor the training code's model classes.
The artifact was lowered for CPU, CUDA and TPU; JAX runs it on whichever backend it finds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np

from {{ cookiecutter.package_name }}.errors import UserError

SERVING_FILE = "model.jax"


def load_predictor(export_dir: Path) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """A function from encoded inputs (batch-first) to logits, or to values for regression."""
    path = export_dir / SERVING_FILE
    if not path.is_file():
        raise UserError(f"{path}: not found (export with --format stablehlo or all)")
    exported = jax.export.deserialize(bytearray(path.read_bytes()))
    call = jax.jit(exported.call)  # compiled once per batch size

    def predict(inputs: dict[str, np.ndarray]) -> np.ndarray:
        # Padded to a power of two: a server's varying batch sizes compile a few programs only.
        count = len(next(iter(inputs.values())))
        padded = 1 << (count - 1).bit_length()
        padded_inputs = {
            name: np.pad(a, [(0, padded - count)] + [(0, 0)] * (a.ndim - 1))
            for name, a in inputs.items()
        }
        outputs = call(padded_inputs)
        return np.asarray(outputs)[:count]

    return predict
