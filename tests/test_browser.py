"""The browser path: in a generated project, `make web-test` loads web/ in headless Chromium
(ONNX Runtime Web running the exported model.onnx) and checks the page's preprocessing on the
golden vectors of tests/golden/ and its predictions for validation examples against the Python
model's, within the export tolerance.

`make test` runs it once per framework, each on another task (CI budget); `make test-full`
(`-m full`) runs the other tasks too. Needs Node.js with npm (the page's packages come from
web/package-lock.json) and Chromium (Debian's `chromium`; `.ci/run` installs both).
"""

from __future__ import annotations

import json
import re
import shutil

import pytest

from .harness import FRAMEWORKS, TASKS, Project, quick_overrides

pytestmark = pytest.mark.slow

CI = {"pytorch": "image", "tensorflow": "text", "jax": "tabular"}
PROJECTS = [
    pytest.param((framework, task), marks=[] if CI[framework] == task else [pytest.mark.full])
    for framework in FRAMEWORKS
    for task in TASKS
]
GOLDEN_CHECKS = {"image": 3, "text": 3, "tabular": 3}  # cases (image) or instances
EXAMPLES = 4  # web_export.EXAMPLES
# JAX's Python predictor runs model.jax; the ONNX file is what the page runs.
FORMATS = {"pytorch": [["onnx"]], "tensorflow": [["onnx"]], "jax": [["stablehlo"], ["onnx"]]}


@pytest.fixture(scope="module", params=PROJECTS, ids=lambda p: "-".join(p))
def project(request: pytest.FixtureRequest, baked_project) -> Project:
    project = baked_project(*request.param, deploy="browser")
    project.module("data", "sample", "--out", "data/sample")
    project.module("train", *quick_overrides(project.task, "web", 2))
    for formats in FORMATS[project.framework]:
        project.module("export", "--checkpoint", "runs/web", "--format", *formats)
    return project


def test_the_page_reproduces_the_preprocessing_and_the_predictions(project: Project) -> None:
    make = ["make", "--no-print-directory", "web-test", f"VENV={project.env.root}", "RUN=runs/web"]
    out = project.run(*make).stdout
    assert "web check passed" in out, out
    assert len(re.findall(r"^ok   golden: ", out, re.M)) == GOLDEN_CHECKS[project.task], out
    assert len(re.findall(r"^ok   encode: ", out, re.M)) == EXAMPLES, out
    assert len(re.findall(r"^ok   predict: ", out, re.M)) == EXAMPLES, out
    assert re.search(r"inference per example .*: mean \d+\.\d+ ms over 4 examples", out), out


def test_a_prediction_or_an_encoding_that_differs_fails(project: Project) -> None:
    export = project.path / "runs" / "web" / "export"
    project.module("web_export", "--model", str(export))
    tampered = export.parent / "tampered"
    tampered.mkdir(exist_ok=True)
    shutil.copy(export / "model.onnx", tampered)
    web = json.loads((export / "web.json").read_text())
    web["examples"][0]["outputs"][0] += 10 * web["tolerance"]
    name, values = next(iter(web["examples"][1]["inputs"].items()))
    web["examples"][1]["inputs"][name] = [*values, 0]
    (tampered / "web.json").write_text(json.dumps(web))
    result = project.run("node", "web/test.mjs", str(tampered), check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL predict: " in result.stdout and "FAIL encode: " in result.stdout, result.stdout
    assert "web check FAILED" in result.stdout


def test_a_missing_model_is_one_line(project: Project) -> None:
    result = project.run("node", "web/serve.mjs", "runs/nothing/export", check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: runs/nothing/export/model.onnx: not found (make export, then make web, write it)"
    )
