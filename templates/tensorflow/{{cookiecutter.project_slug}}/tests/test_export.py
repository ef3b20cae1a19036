import json
from pathlib import Path

import numpy as np

from {{ cookiecutter.package_name }}.config import Config
from {{ cookiecutter.package_name }}.data import PREPROCESSOR_FILE, Preprocessor, load_split
from {{ cookiecutter.package_name }}.inference import load_predictor
from {{ cookiecutter.package_name }}.parity import REPORT_FILE


def test_export_reloads_and_predicts_any_batch_size(export_dir: Path, tiny_config: Config) -> None:
    preprocessor = Preprocessor.load(export_dir / PREPROCESSOR_FILE)
    predict = load_predictor(export_dir)
    inputs = preprocessor.encode(load_split(tiny_config.data, "val")[:3])
    outputs = predict(inputs)
    assert outputs.shape[0] == 3 and outputs.size == 3 * preprocessor.output_size
    assert np.isfinite(outputs).all()
    single = predict({name: array[:1] for name, array in inputs.items()})
    np.testing.assert_allclose(single.reshape(-1), outputs[:1].reshape(-1), rtol=1e-4, atol=1e-5)


def test_export_report_lists_every_format_within_tolerance(export_dir: Path) -> None:
    checks = json.loads((export_dir / REPORT_FILE).read_text())
    assert checks
    for check in checks:
        assert (export_dir / check["file"]).exists()
        assert check["max_abs_diff"] <= check["tolerance"]
