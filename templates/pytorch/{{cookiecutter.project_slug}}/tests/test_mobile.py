import json
from pathlib import Path

import pytest

from conftest import tiny_overrides
from {{ cookiecutter.package_name }} import mobile, train
from {{ cookiecutter.package_name }}.config import load_config
from {{ cookiecutter.package_name }}.parity import REPORT_FILE
from {{ cookiecutter.package_name }}.runs import Run


@pytest.fixture(scope="module")
def mobile_run(sample_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A run of its own: `export`'s tests expect only their formats in its export.json."""
    overrides = tiny_overrides(sample_data, tmp_path_factory.mktemp("runs"), "mobile")
    train.main(overrides)
    run = Run.of(load_config(overrides=overrides))
    mobile.main(["--checkpoint", str(run.root), "--calibration", "32"])
    return run


def test_mobile_models_reload_and_match(mobile_run: Run) -> None:
    report = json.loads((mobile_run.export / REPORT_FILE).read_text())
    checks = {check["format"]: check for check in report}
    assert set(checks) == {f"{mobile.RUNTIME}_{precision}" for precision in mobile.PRECISIONS}
    for check in checks.values():
        assert (mobile_run.export / check["file"]).stat().st_size == check["bytes"] > 0
        assert check["max_abs_diff"] <= check["tolerance"], check
        assert check["latency_ms"] > 0
        assert check["metric"] in ("accuracy", "mae")
        assert check["value"] >= 0 and check["model_value"] >= 0
    assert checks[f"{mobile.RUNTIME}_float32"]["tolerance"] == mobile.FLOAT_TOLERANCE


def test_bad_arguments_exit_2_and_write_nothing(
    mobile_run: Run, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (mobile_run.export / REPORT_FILE).read_text()
    for bad in (["--calibration", "0"], ["--max-drop", "-1"]):
        with pytest.raises(SystemExit) as exit_:
            mobile.main(["--checkpoint", str(mobile_run.root), *bad])
        assert exit_.value.code == 2
        assert capsys.readouterr().err.startswith("error: --")
    assert (mobile_run.export / REPORT_FILE).read_text() == before
