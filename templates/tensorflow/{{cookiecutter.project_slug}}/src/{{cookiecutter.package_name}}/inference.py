"""Predictions from the exported SavedModel: what `serve.py` runs, and TF Serving too.

The SavedModel sits in TF Serving's layout, `export/serving/<model name>/<version>/`; the newest
version is loaded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf

from {{ cookiecutter.package_name }}.errors import UserError

MODEL_NAME = "{{ cookiecutter.package_name }}"
SIGNATURE = "serving_default"


def serving_dir(export_dir: Path) -> Path:
    """The folder TF Serving's --model_base_path points at: one subfolder per version."""
    return export_dir / "serving" / MODEL_NAME


def saved_model_dir(export_dir: Path) -> Path:
    versions = [p for p in serving_dir(export_dir).glob("*") if p.name.isdigit()]
    if not versions:
        raise UserError(f"no SavedModel in {serving_dir(export_dir)} (run the export first)")
    return max(versions, key=lambda p: int(p.name))


def load_predictor(
    export_dir: Path, threads: int | None = None
) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """A function from named input arrays (a batch) to the model's outputs.

    `threads` caps TensorFlow's CPU threads (default: all cores), so a server does not
    oversubscribe them; it takes effect only before TensorFlow first runs in this process.
    """
    if threads is not None:
        with contextlib.suppress(RuntimeError):  # already running: its thread pools are fixed
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
    loaded = tf.saved_model.load(str(saved_model_dir(export_dir)))

    def predict(inputs: dict[str, np.ndarray]) -> np.ndarray:
        # `loaded` must stay referenced while its functions run: read the signature from it.
        outputs = loaded.signatures[SIGNATURE](**{k: tf.constant(v) for k, v in inputs.items()})
        return next(iter(outputs.values())).numpy()

    return predict
