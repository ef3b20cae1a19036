"""Export of a checkpoint for serving, each artifact checked against the model:

    python -m {{ cookiecutter.package_name }}.export --checkpoint runs/baseline [--format F]

Writes `runs/<run>/export/` with `preprocessor.json` and, for `--format all` (the default):

- `model.jax`: serialized StableHLO from `jax.export`, batch dimension symbolic, lowered for CPU,
  CUDA and TPU. `serve` and `inference.py` run it with JAX alone.
- `saved_model/`: a TensorFlow SavedModel through `jax2tf` (CPU and CUDA), for TF Serving.
- `model.onnx`: ONNX through jax2onnx, for ONNX Runtime (the browser page in web/ runs it).
{%- if "mobile" in cookiecutter.deploy %}

The LiteRT models for phones (float32 and int8) come from the `mobile` module.
{%- endif %}

Exports compute in float32 whatever `trainer.precision` was. Each artifact is reloaded and its
outputs compared with the model's on validation examples at two batch sizes, neither fixed at
export; the command fails on a mismatch (see parity.py).
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from {{ cookiecutter.package_name }}.checkpoint import load_trained
from {{ cookiecutter.package_name }}.data import PREPROCESSOR_FILE, Preprocessor, load_split
from {{ cookiecutter.package_name }}.errors import UserError, exit_on_user_error
from {{ cookiecutter.package_name }}.inference import SERVING_FILE, load_predictor
from {{ cookiecutter.package_name }}.parity import ParityCheck, check_parity, report
from {{ cookiecutter.package_name }}.quiet import add_verbose_argument

FORMATS = ("stablehlo", "savedmodel", "onnx")
TOLERANCE = 1e-4
CHECK_BATCH_SIZES = (1, 5)
ONNX_FILE = "model.onnx"
ONNX_OPSET = 21
Inputs = dict[str, np.ndarray]


def input_specs(preprocessor: Preprocessor, batch: object) -> dict[str, jax.ShapeDtypeStruct]:
    return {
        name: jax.ShapeDtypeStruct((batch, *shape), jnp.dtype(dtype))
        for name, (shape, dtype) in preprocessor.input_spec.items()
    }


def export_stablehlo(forward: Callable, preprocessor: Preprocessor, out: Path) -> Path:
    (batch,) = jax.export.symbolic_shape("batch")
    exported = jax.export.export(jax.jit(forward), platforms=("cpu", "cuda", "tpu"))(
        input_specs(preprocessor, batch)
    )
    path = out / SERVING_FILE
    path.write_bytes(exported.serialize())
    return path


def export_savedmodel(forward: Callable, preprocessor: Preprocessor, out: Path) -> Path:
    tf = _tensorflow()
    from jax.experimental import jax2tf

    names = list(preprocessor.input_spec)
    polymorphic = [
        "(batch, " + ", ".join(map(str, shape)) + ")"
        for shape, _ in preprocessor.input_spec.values()
    ]
    converted = jax2tf.convert(
        lambda *arrays: forward(dict(zip(names, arrays, strict=True))),
        polymorphic_shapes=polymorphic,
        native_serialization_platforms=("cpu", "cuda"),
        with_gradient=False,
    )
    signature = [
        tf.TensorSpec((None, *shape), dtype, name=name)
        for name, (shape, dtype) in preprocessor.input_spec.items()
    ]
    module = tf.Module()
    module.serve = tf.function(converted, input_signature=signature, autograph=False)
    path = out / "saved_model"
    shutil.rmtree(path, ignore_errors=True)
    tf.saved_model.save(module, str(path), signatures=module.serve.get_concrete_function())
    return path


def export_onnx(forward: Callable, preprocessor: Preprocessor, out: Path) -> Path:
    import onnx
    from jax2onnx import to_onnx

    names = list(preprocessor.input_spec)
    (batch,) = jax.export.symbolic_shape("batch")
    model = to_onnx(
        lambda *arrays: forward(dict(zip(names, arrays, strict=True))),
        list(input_specs(preprocessor, batch).values()),
        input_names=names,
        output_names=["outputs"],
        opset=ONNX_OPSET,
    )
    # jax2onnx 0.17.1 declares some convolution outputs in the wrong layout; ONNX Runtime Web
    # refuses such a model. The shapes of intermediate values are optional: runtimes infer them.
    del model.graph.value_info[:]
    path = out / ONNX_FILE
    onnx.save(model, str(path))
    return path


def run_onnx(path: Path) -> Callable[[Inputs], np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda inputs: session.run(None, inputs)[0]


def run_savedmodel(path: Path) -> Callable[[Inputs], np.ndarray]:
    tf = _tensorflow()
    loaded = tf.saved_model.load(str(path))

    def run(inputs: Inputs) -> np.ndarray:
        tensors = {name: tf.constant(array) for name, array in inputs.items()}
        return loaded.signatures["serving_default"](**tensors)["output_0"].numpy()

    return run


def _tensorflow() -> ModuleType:
    try:
        import tensorflow as tf
    except ImportError:
        raise UserError(
            "the savedmodel format needs TensorFlow: pip install -r "
            "requirements/export.txt (or export --format stablehlo)"
        ) from None
    return tf


def export(checkpoint: Path, formats: tuple[str, ...]) -> list[ParityCheck]:
    trained = load_trained(checkpoint, dtype=jnp.float32)
    graph, state = nnx.split(trained.model)

    def forward(inputs: dict[str, jax.Array]) -> jax.Array:
        return nnx.merge(graph, state)(**inputs)

    out = trained.run.export
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(trained.run.root / PREPROCESSOR_FILE, out / PREPROCESSOR_FILE)
    examples = load_split(trained.config.data, "val")[: max(CHECK_BATCH_SIZES)]
    inputs = trained.preprocessor.encode(examples)
    expected = np.asarray(jax.jit(forward)(inputs))

    artifacts: dict[str, tuple[Path, Callable[[Inputs], np.ndarray]]] = {}
    if "stablehlo" in formats:
        path = export_stablehlo(forward, trained.preprocessor, out)
        artifacts["stablehlo"] = (path, load_predictor(out))
    if "savedmodel" in formats:
        saved_model = export_savedmodel(forward, trained.preprocessor, out)
        artifacts["savedmodel"] = (saved_model, run_savedmodel(saved_model))
    if "onnx" in formats:
        path = export_onnx(forward, trained.preprocessor, out)
        artifacts["onnx"] = (path, run_onnx(path))
    checks = [_check(name, path, run, inputs, expected) for name, (path, run) in artifacts.items()]
    report(out, checks)
    return checks


def _check(
    name: str, path: Path, run: Callable[[Inputs], np.ndarray], inputs: Inputs, expected: np.ndarray
) -> ParityCheck:
    """Compare at each of CHECK_BATCH_SIZES (the export fixed no batch size)."""
    sizes = CHECK_BATCH_SIZES
    actual = np.concatenate([run({k: v[:n] for k, v in inputs.items()}) for n in sizes])
    wanted = np.concatenate([expected[:n] for n in sizes])
    return check_parity(name, path, wanted, actual, TOLERANCE)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Export a checkpoint and check each artifact.")
    parser.add_argument(
        "--checkpoint", type=Path, required=True, help="runs/<name> (its latest) or a checkpoint"
    )
    parser.add_argument("--format", choices=("all", *FORMATS), default="all")
    add_verbose_argument(parser)
    args = parser.parse_args(argv)
    formats = FORMATS if args.format == "all" else (args.format,)
    export(args.checkpoint, formats)


if __name__ == "__main__":
    main()
