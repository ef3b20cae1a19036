"""On-device export: the model for phones and edge devices, float32 and int8, each checked.

    python -m {{ cookiecutter.package_name }}.mobile --checkpoint runs/baseline [--calibration N] [--max-drop D]

Writes into `runs/<run>/export/`:
{%- if cookiecutter._framework == "pytorch" %}

    model_float32.pte   ExecuTorch program, XNNPACK delegate, float32
    model_int8.pte      the same, int8 weights and activations (PT2E quantization with the
                        XNNPACK quantizer), calibrated on examples of the training split
{%- else %}

    model_float32.tflite   LiteRT model, float32
{%- if cookiecutter._framework == "jax" and cookiecutter.task == "text" %}

No int8 model for the text Transformer: jax2tf writes its exact GELU as a polynomial that LiteRT's
int8 kernels abort on at run time (the TensorFlow template's GELU op quantizes).
{%- else %}
    model_int8.tflite      full-integer LiteRT model: int8 weights and activations, calibrated on
                           examples of the training split (float32 in and out)
{%- endif %}
{%- endif %}

Each model takes one example (batch 1, what an app runs). It is reloaded with {% if cookiecutter._framework == "pytorch" %}ExecuTorch's
Python runtime{% else %}the LiteRT
interpreter{% endif %} and run on every example of the val split (the train split when there is none).
`export.json` gets one entry per model: its size, its batch-1 latency on this machine, the largest
difference from the trained model's outputs, and its val metric next to the trained model's.
The command fails when a float32 output differs by more than 1e-4, or an int8 output by more than
the largest output magnitude (or 1): a broken conversion. Whether int8 is usable is the metric's
to say: one worse than the trained model's by more than --max-drop prints a warning.
"""

from __future__ import annotations

import argparse
import statistics
{%- if cookiecutter._framework != "pytorch" %}
import tempfile
{%- endif %}
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
{%- if cookiecutter._framework == "pytorch" %}

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
{%- elif cookiecutter._framework == "tensorflow" %}

import numpy as np
import tensorflow as tf

from {{ cookiecutter.package_name }}.checkpoint import load_trained
from {{ cookiecutter.package_name }}.config import DataConfig
from {{ cookiecutter.package_name }}.data import Preprocessor, has_split, load_split
{%- else %}

import jax
import jax.numpy as jnp
import numpy as np
import tensorflow as tf  # requirements/export.txt: jax2tf and the LiteRT converter
from flax import nnx

from {{ cookiecutter.package_name }}.checkpoint import load_trained
from {{ cookiecutter.package_name }}.config import DataConfig
from {{ cookiecutter.package_name }}.data import Preprocessor, has_split, load_split
{%- endif %}
from {{ cookiecutter.package_name }}.errors import UserError, exit_on_user_error
from {{ cookiecutter.package_name }}.metrics import compute_metrics
{%- if cookiecutter._framework == "pytorch" %}
from {{ cookiecutter.package_name }}.model import build_model
{%- endif %}
from {{ cookiecutter.package_name }}.parity import ParityCheck, check_parity, report
from {{ cookiecutter.package_name }}.quiet import add_verbose_argument, native_stderr_closed
{%- if cookiecutter._framework == "pytorch" %}
from {{ cookiecutter.package_name }}.runs import Run
{%- endif %}

FLOAT_TOLERANCE = 1e-4
INT8_TOLERANCE = 1.0  # times the largest output magnitude (at least 1): a broken conversion
LATENCY_RUNS = 50
{%- if cookiecutter._framework == "pytorch" %}
RUNTIME = "executorch"
SUFFIX = ".pte"
{%- else %}
RUNTIME = "litert"
SUFFIX = ".tflite"
{%- endif %}
{%- if cookiecutter._framework == "jax" and cookiecutter.task == "text" %}
PRECISIONS = ("float32",)  # see the module's docstring
{%- else %}
PRECISIONS = ("float32", "int8")
{%- endif %}

Inputs = dict[str, np.ndarray]
Predict = Callable[[Inputs], np.ndarray]


@dataclass
class Trained:
    """The trained model as a function of NumPy batches, and what the checks need around it."""

    export_dir: Path
    data: DataConfig
    preprocessor: Preprocessor
    seed: int
    predict: Predict
{%- if cookiecutter._framework == "pytorch" %}
    model: nn.Module


class Positional(nn.Module):
    """The model with its inputs in `input_spec` order, as on-device runtimes pass them."""

    def __init__(self, model: nn.Module, names: list[str]) -> None:
        super().__init__()
        self.model, self.names = model, names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.names, inputs, strict=True)))


def load(path: Path) -> Trained:
    path = checkpoint.resolve(path)
    run = Run.containing(path)
    config = load_config(run.config_file)
    preprocessor = Preprocessor.load(run.root / PREPROCESSOR_FILE)
    model = build_model(config.model, preprocessor)
    checkpoint.load_model(path, model)
    model = Positional(model.eval(), list(preprocessor.input_spec)).eval()

    @torch.no_grad()
    def predict(inputs: Inputs) -> np.ndarray:
        return model(*(torch.from_numpy(inputs[name]) for name in model.names)).numpy()

    return Trained(run.export, config.data, preprocessor, config.seed, predict, model)


def convert(trained: Trained, precision: str, calibration: list[Inputs], path: Path) -> Predict:
    """Write an ExecuTorch program for one example at `precision`; its reloaded runner."""
    with native_stderr_closed():  # ExecuTorch's cpuinfo probes print to stderr on this path
        return _convert(trained, precision, calibration, path)


def _convert(trained: Trained, precision: str, calibration: list[Inputs], path: Path) -> Predict:
    try:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import (
            XnnpackPartitioner,
        )
        from executorch.exir import to_edge_transform_and_lower
        from executorch.runtime import Runtime
    except ImportError:
        raise UserError(
            "the mobile export needs ExecuTorch: pip install -r requirements/mobile.txt"
        ) from None
    example = _tensors(trained.model.names, calibration[0])
    model = trained.model if precision == "float32" else _quantized(trained, calibration)
    with torch.no_grad():
        program = torch.export.export(model, example)
        lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
    path.write_bytes(lowered.to_executorch().buffer)
    method = Runtime.get().load_program(path).load_method("forward")
    names = trained.model.names
    method.execute(list(_tensors(names, calibration[0])))
    return lambda inputs: method.execute(list(_tensors(names, inputs)))[0].numpy()


def _quantized(trained: Trained, calibration: list[Inputs]) -> nn.Module:
    """PT2E: observers where XNNPACK runs int8, calibrated, then quantize/dequantize pairs."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantizer = XNNPACKQuantizer().set_global(
        get_symmetric_quantization_config(is_per_channel=True)
    )
    names = trained.model.names
    graph = torch.export.export(trained.model, _tensors(names, calibration[0])).module()
    prepared = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for inputs in calibration:
            prepared(*_tensors(names, inputs))
    return convert_pt2e(prepared)


def _tensors(names: list[str], inputs: Inputs) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(inputs[name]) for name in names)
{%- else %}
    save: Callable[[Path], None]  # writes a SavedModel of the model on one example
{%- if cookiecutter._framework == "tensorflow" %}


def load(path: Path) -> Trained:
    trained = load_trained(path)
    signature = dict(_one_example(trained.preprocessor))

    def save(saved_model: Path) -> None:
        trained.model.export(
            str(saved_model), format="tf_saved_model", input_signature=[signature], verbose=False
        )

    return Trained(
        trained.run.export,
        trained.config.data,
        trained.preprocessor,
        trained.config.seed,
        lambda inputs: trained.model(inputs, training=False).numpy(),
        save,
    )
{%- else %}


def load(path: Path) -> Trained:
    from jax.experimental import jax2tf

    trained = load_trained(path, dtype=jnp.float32)
    graph, state = nnx.split(trained.model)
    names = list(trained.preprocessor.input_spec)

    def forward(inputs: dict[str, jax.Array]) -> jax.Array:
        return nnx.merge(graph, state)(**inputs)

    def save(saved_model: Path) -> None:
        converted = jax2tf.convert(
            lambda *arrays: forward(dict(zip(names, arrays, strict=True))),
            native_serialization_platforms=("cpu",),
            with_gradient=False,
        )
        signature = [spec for _, spec in _one_example(trained.preprocessor)]
        module = tf.Module()
        module.serve = tf.function(converted, input_signature=signature, autograph=False)
        tf.saved_model.save(
            module, str(saved_model), signatures=module.serve.get_concrete_function()
        )

    predict = jax.jit(forward)
    return Trained(
        trained.run.export,
        trained.config.data,
        trained.preprocessor,
        trained.config.seed,
        lambda inputs: np.asarray(predict(inputs)),
        save,
    )
{%- endif %}


def _one_example(preprocessor: Preprocessor) -> list[tuple[str, tf.TensorSpec]]:
    return [
        (name, tf.TensorSpec((1, *shape), dtype, name=name))
        for name, (shape, dtype) in preprocessor.input_spec.items()
    ]


def convert(trained: Trained, precision: str, calibration: list[Inputs], path: Path) -> Predict:
    """Write a LiteRT model for one example at `precision`; its reloaded runner."""
    from ai_edge_litert.interpreter import Interpreter

    with tempfile.TemporaryDirectory() as folder:
        saved_model = Path(folder) / "saved_model"
        trained.save(saved_model)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
        if precision == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: iter(calibration)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        with native_stderr_closed():  # the converter's quantization summary
            path.write_bytes(converter.convert())
    with native_stderr_closed():  # "Created TensorFlow Lite XNNPACK delegate for CPU."
        runner = Interpreter(model_path=str(path)).get_signature_runner("serving_default")
        runner(**calibration[0])
    return lambda inputs: next(iter(runner(**inputs).values()))
{%- endif %}


@dataclass(frozen=True)
class MobileCheck(ParityCheck):
    """A parity check with what deciding on a phone model takes: speed and the val metric."""

    latency_ms: float
    metric: str
    value: float
    model_value: float


def calibration_set(trained: Trained, size: int) -> list[Inputs]:
    """`size` examples of the training split, drawn with the run's seed, one per batch."""
    train = load_split(trained.data, "train")
    picked = np.random.default_rng(trained.seed).permutation(len(train))[:size]
    encoded = trained.preprocessor.encode([train[i] for i in sorted(picked)])
    return [{name: array[i : i + 1] for name, array in encoded.items()} for i in range(len(picked))]


def one_by_one(predict: Predict, inputs: Inputs) -> np.ndarray:
    count = len(next(iter(inputs.values())))
    return np.concatenate(
        [predict({k: v[i : i + 1] for k, v in inputs.items()}) for i in range(count)]
    )


def latency_ms(predict: Predict, inputs: Inputs) -> float:
    """Median wall time of one example, after a few warm-up runs."""
    single = {name: array[:1] for name, array in inputs.items()}
    for _ in range(5):
        predict(single)
    times = []
    for _ in range(LATENCY_RUNS):
        start = time.perf_counter()
        predict(single)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def headline(
    preprocessor: Preprocessor, outputs: np.ndarray, targets: np.ndarray
) -> tuple[str, float]:
    """accuracy (classification) or mae (regression)."""
    metrics = compute_metrics(preprocessor.objective, outputs, targets, preprocessor.target_scale)
    name = "accuracy" if preprocessor.objective == "classification" else "mae"
    return name, metrics[name]


def drop(metric: str, value: float, model_value: float) -> float:
    """How much worse `value` is: accuracy points, or the relative increase of the MAE."""
    if metric == "accuracy":
        return model_value - value
    return (value - model_value) / max(model_value, 1e-12)


def export_mobile(
    checkpoint_path: Path, calibration_size: int, max_drop: float
) -> list[MobileCheck]:
    trained = load(checkpoint_path)
    trained.export_dir.mkdir(parents=True, exist_ok=True)
    split = "val" if has_split(trained.data, "val") else "train"
    examples = load_split(trained.data, split)
    inputs = trained.preprocessor.encode(examples)
    targets = trained.preprocessor.encode_targets(examples)
    expected = trained.predict(inputs)
    metric, model_value = headline(trained.preprocessor, expected, targets)
    calibration = calibration_set(trained, calibration_size)
    scale = max(float(np.abs(expected).max()), 1.0)

    checks = []
    for precision in PRECISIONS:
        path = trained.export_dir / f"model_{precision}{SUFFIX}"
        predict = convert(trained, precision, calibration, path)
        outputs = one_by_one(predict, inputs)
        tolerance = FLOAT_TOLERANCE if precision == "float32" else INT8_TOLERANCE * scale
        parity = check_parity(f"{RUNTIME}_{precision}", path, expected, outputs, tolerance)
        _, value = headline(trained.preprocessor, outputs, targets)
        checks.append(
            MobileCheck(
                **asdict(parity),
                latency_ms=latency_ms(predict, inputs),
                metric=metric,
                value=value,
                model_value=model_value,
            )
        )
    _print(checks, split, len(examples))
    for check in checks:
        if drop(check.metric, check.value, check.model_value) > max_drop:
            print(
                f"WARNING: {check.format} {split} {check.metric} {check.value:.4f} against the "
                f"trained model's {check.model_value:.4f}: worse by more than --max-drop "
                f"{max_drop}. Calibrate on more examples (--calibration) or ship the float32 model."
            )
    report(trained.export_dir, checks)
    return checks


def _print(checks: list[MobileCheck], split: str, count: int) -> None:
    print(f"On-device models, {split} split ({count} examples, one at a time):")
    for check in checks:
        print(
            f"  {check.format:<18} {check.bytes / 1e6:7.2f} MB {check.latency_ms:8.3f} ms/example"
            f"  {check.metric} {check.value:.4f} (trained model {check.model_value:.4f})"
        )


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Export on-device models and check them.")
    parser.add_argument(
        "--checkpoint", type=Path, required=True, help="runs/<name> (its latest) or a checkpoint"
    )
    parser.add_argument(
        "--calibration",
        type=int,
        default=256,
        help="training examples the int8 model is calibrated on (default: 256)",
    )
    parser.add_argument(
        "--max-drop",
        type=float,
        default=0.02,
        help="warn when int8 is worse than the trained model by more than this: accuracy "
        "points, or the MAE's relative increase (default: 0.02)",
    )
    add_verbose_argument(parser)
    args = parser.parse_args(argv)
    if args.calibration < 1:
        raise UserError(f"--calibration must be at least 1, not {args.calibration}")
    if not args.max_drop >= 0:
        raise UserError(f"--max-drop must be 0 or more, not {args.max_drop}")
    export_mobile(args.checkpoint, args.calibration, args.max_drop)


if __name__ == "__main__":
    main()
