"""web.json, what the browser page (web/) reads: its examples, as the page takes them, encode to
the arrays and predictions it lists. `make web-test` checks the page itself in Chromium."""

{% if cookiecutter.task == "image" -%}
import base64
{% endif -%}
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from {{ cookiecutter.package_name }} import web_export
from {{ cookiecutter.package_name }}.data import PREPROCESSOR_FILE, Example, Preprocessor
from {{ cookiecutter.package_name }}.inference import load_predictor


def from_raw(raw: Any) -> Example:
{%- if cookiecutter.task == "image" %}
    return Example(base64.b64decode(raw["base64"]))
{%- else %}
    return Example(raw)
{%- endif %}


def test_web_json_examples_encode_and_predict_as_listed(export_dir: Path) -> None:
    web_export.main(["--model", str(export_dir)])
    web = json.loads((export_dir / web_export.WEB_FILE).read_text())
    preprocessor = Preprocessor.load(export_dir / PREPROCESSOR_FILE)
    assert (export_dir / web["model"]).is_file()
    assert [name for name, *_ in web["inputs"]] == list(preprocessor.input_spec)
    examples = web["examples"]
    assert len(examples) == web_export.EXAMPLES
    inputs = preprocessor.encode([from_raw(example["raw"]) for example in examples])
    for name, array in inputs.items():
        listed = np.array([example["inputs"][name] for example in examples], array.dtype)
        np.testing.assert_array_equal(listed, array)
    listed = np.array([example["outputs"] for example in examples])
    outputs = load_predictor(export_dir)(inputs)
    np.testing.assert_allclose(listed, outputs.reshape(listed.shape), atol=web["tolerance"])


def test_an_export_without_onnx_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        web_export.main(["--model", str(tmp_path)])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (
        f"error: {tmp_path / 'model.onnx'}: not found (make export writes it)\n"
    )
