"""What the browser page (web/) reads next to an export's `model.onnx`: `web.json`.

    python -m {{ cookiecutter.package_name }}.web_export --model runs/baseline/export

`web.json` holds the saved preprocessing as ordered lists (JSON objects lose the order of
keys that look like numbers in JavaScript), the model's inputs, and a few validation examples:
each one raw, encoded by `Preprocessor.encode`, and with the outputs of the Python model
(`inference.load_predictor`). `make web-test` checks that the page encodes them to the same
arrays and that ONNX Runtime Web's outputs match within TOLERANCE.
"""

from __future__ import annotations

import argparse
{%- if cookiecutter.task == "image" %}
import base64
{%- endif %}
import json
from pathlib import Path
from typing import Any

import numpy as np

from {{ cookiecutter.package_name }}.config import load_config
from {{ cookiecutter.package_name }}.data import PREPROCESSOR_FILE, Preprocessor, has_split, load_split
from {{ cookiecutter.package_name }}.errors import UserError, exit_on_user_error
from {{ cookiecutter.package_name }}.inference import load_predictor
from {{ cookiecutter.package_name }}.quiet import add_verbose_argument
from {{ cookiecutter.package_name }}.runs import Run

ONNX_FILE = "model.onnx"
WEB_FILE = "web.json"
EXAMPLES = 4
TOLERANCE = 1e-4  # the exports' parity tolerance


def preprocessing(preprocessor: Preprocessor) -> dict[str, Any]:
    """The fitted preprocessing, every mapping as a list of pairs in the order it encodes."""
{%- if cookiecutter.task == "image" %}
    return {"image_size": preprocessor.image_size}
{%- elif cookiecutter.task == "text" %}
    tokenizer = preprocessor.tokenizer
    return {
        "vocab": tokenizer.vocab,
        "lowercase": tokenizer.lowercase,
        "unicode_form": tokenizer.unicode_form,
        "max_length": preprocessor.max_length,
    }
{%- else %}
    return {
        "numeric": [[name, *stats] for name, stats in preprocessor.numeric.items()],
        "medians": [[column, median] for column, median in preprocessor.medians.items()],
        "categorical": [[column, values] for column, values in preprocessor.categorical.items()],
        "target_stats": list(preprocessor.target_stats),
    }
{%- endif %}


def raw(example: Any) -> Any:
    """An example as the page takes it from a user."""
{%- if cookiecutter.task == "image" %}
    data = base64.b64encode(example.image.read_bytes()).decode()
    return {"name": example.image.name, "base64": data}
{%- elif cookiecutter.task == "text" %}
    return example.text
{%- else %}
    return example.features
{%- endif %}


def web_description(export_dir: Path) -> dict[str, Any]:
    run = Run.containing(export_dir)
    config = load_config(run.config_file)
    preprocessor = Preprocessor.load(export_dir / PREPROCESSOR_FILE)
    split = "val" if has_split(config.data, "val") else "train"
    examples = load_split(config.data, split)[:EXAMPLES]
    inputs = preprocessor.encode(examples)
    outputs = load_predictor(export_dir)(inputs)
    return {
        "task": "{{ cookiecutter.task }}",
        "model": ONNX_FILE,
        "objective": preprocessor.objective,
        "labels": preprocessor.labels.names if preprocessor.labels else None,
        "inputs": [[name, *spec] for name, spec in preprocessor.input_spec.items()],
        "preprocessing": preprocessing(preprocessor),
        "tolerance": TOLERANCE,
        "examples": [
            {
                "source": example.source,
                "raw": raw(example),
                "inputs": {name: array[i].tolist() for name, array in inputs.items()},
                "outputs": np.asarray(outputs[i], dtype=np.float64).tolist(),
                "label": example.{{ "target" if cookiecutter.task == "tabular" else "label" }},
            }
            for i, example in enumerate(examples)
        ],
    }


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write web.json for the browser page.")
    parser.add_argument(
        "--model", type=Path, required=True, help="an export folder (runs/<run>/export)"
    )
    add_verbose_argument(parser)
    args = parser.parse_args(argv)
    if not (args.model / ONNX_FILE).is_file():
        raise UserError(f"{args.model / ONNX_FILE}: not found (make export writes it)")
    (args.model / WEB_FILE).write_text(json.dumps(web_description(args.model)))
    print(f"Wrote {args.model / WEB_FILE}")


if __name__ == "__main__":
    main()
