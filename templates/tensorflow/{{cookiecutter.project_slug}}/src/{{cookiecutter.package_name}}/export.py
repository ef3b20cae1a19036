"""Export a checkpoint for deployment, and check every artifact against the model.

    python -m {{ cookiecutter.package_name }}.export --checkpoint runs/baseline
        [--format onnx] [--version N]

Writes `runs/<run>/export/`:

    serving/<model name>/<version>/   SavedModel in TF Serving's layout; `serve.py` loads it
    model.onnx                        ONNX (through tf2onnx) for onnxruntime and other runtimes
    preprocessor.json                 what turns raw requests into model inputs
    export.json                       size and largest output difference of each artifact

Each artifact is reloaded (tf.saved_model.load, onnxruntime) and its outputs on validation
examples compared with the Keras model's: the SavedModel must agree within 1e-5, ONNX within 1e-4.
The LiteRT models for phones (float32 and int8) come from the `mobile` module.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from {{ cookiecutter.package_name }}.checkpoint import Trained, load_trained
from {{ cookiecutter.package_name }}.data import PREPROCESSOR_FILE, has_split, load_split
from {{ cookiecutter.package_name }}.errors import exit_on_user_error
from {{ cookiecutter.package_name }}.inference import load_predictor, serving_dir
from {{ cookiecutter.package_name }}.parity import ParityCheck, check_parity, report
from {{ cookiecutter.package_name }}.quiet import add_verbose_argument

FORMATS = ("onnx",)
PARITY_BATCH = 5
FLOAT_TOLERANCE = 1e-4
ONNX_OPSET = 17


def export_savedmodel(model: keras.Model, export_dir: Path, version: int) -> Path:
    target = serving_dir(export_dir) / str(version)
    shutil.rmtree(target, ignore_errors=True)
    model.export(str(target), format="tf_saved_model", verbose=False)
    return target


def export_onnx(model: keras.Model, inputs: dict[str, np.ndarray], path: Path) -> Path:
    import tf2onnx

    signature = {
        name: tf.TensorSpec((None, *array.shape[1:]), array.dtype, name=name)
        for name, array in inputs.items()
    }
    function = tf.function(lambda features: model(features, training=False))
    tf2onnx.convert.from_function(
        function, input_signature=[signature], opset=ONNX_OPSET, output_path=str(path)
    )
    return path


def run_onnx(path: Path, inputs: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, inputs)[0]


def export(trained: Trained, formats: list[str], version: int) -> list[ParityCheck]:
    """Write the SavedModel (always: serving uses it) and `formats`."""
    export_dir = trained.run.export
    export_dir.mkdir(parents=True, exist_ok=True)
    trained.preprocessor.save(export_dir / PREPROCESSOR_FILE)
    inputs = _parity_inputs(trained)
    expected = trained.model(inputs, training=False).numpy()

    export_savedmodel(trained.model, export_dir, version)
    outputs = load_predictor(export_dir)(inputs)
    checks = [check_parity("savedmodel", export_dir / "serving", expected, outputs, 1e-5)]
    if "onnx" in formats:
        path = export_onnx(trained.model, inputs, export_dir / "model.onnx")
        checks.append(check_parity("onnx", path, expected, run_onnx(path, inputs), FLOAT_TOLERANCE))
    return checks


def _parity_inputs(trained: Trained) -> dict[str, np.ndarray]:
    split = "val" if has_split(trained.config.data, "val") else "train"
    examples = load_split(trained.config.data, split)[:PARITY_BATCH]
    return trained.preprocessor.encode(examples)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Export a checkpoint and check the artifacts.")
    parser.add_argument("--checkpoint", type=Path, required=True, help="runs/<run> or a ckpt-N")
    parser.add_argument(
        "--format",
        nargs="*",
        choices=FORMATS,
        default=list(FORMATS),
        help="formats besides the SavedModel, which is always written (default: all)",
    )
    parser.add_argument("--version", type=int, default=1, help="TF Serving model version")
    add_verbose_argument(parser)
    args = parser.parse_args(argv)
    trained = load_trained(args.checkpoint)
    checks = export(trained, args.format, args.version)
    print(f"Exported {trained.checkpoint} to {trained.run.export}")
    report(trained.run.export, checks)


if __name__ == "__main__":
    main()
