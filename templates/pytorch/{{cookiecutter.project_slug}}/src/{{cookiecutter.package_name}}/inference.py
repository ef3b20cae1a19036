"""Predictions from an export directory with ONNX Runtime: serving needs no PyTorch.

`load_predictor(export_dir)` returns a function from encoded inputs (what
`Preprocessor.encode` makes) to the model's outputs: logits, or standardised values.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort

from {{ cookiecutter.package_name }}.errors import UserError

ONNX_FILE = "model.onnx"
ONNX_TYPES = {"tensor(float)": np.float32, "tensor(int32)": np.int32, "tensor(int64)": np.int64}

Predictor = Callable[[dict[str, np.ndarray]], np.ndarray]


def load_predictor(export_dir: Path, threads: int | None = None) -> Predictor:
    """A function from encoded inputs (as `Preprocessor.encode` makes them) to model outputs.

    `threads` caps ONNX Runtime's CPU threads (default: all cores), so a server does not
    oversubscribe them.
    """
    path = export_dir / ONNX_FILE
    if not path.is_file():
        raise UserError(
            f"{path} not found: run `python -m {{ cookiecutter.package_name }}.export` first",
        )
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle pool threads sleep instead of spinning: the server's own threads need the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(path, options, providers=ort.get_available_providers())
    inputs = {i.name: ONNX_TYPES[i.type] for i in session.get_inputs()}

    def predict(batch: dict[str, np.ndarray]) -> np.ndarray:
        feed = {name: np.asarray(batch[name], dtype=dtype) for name, dtype in inputs.items()}
        return session.run(None, feed)[0]

    return predict
