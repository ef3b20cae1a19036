"""The on-device path of every framework: `python -m <pkg>.mobile` after a short real training.

Each framework's models ({fw}_float32 and {fw}_int8: ExecuTorch programs for PyTorch, LiteRT
models for TensorFlow and JAX) are written, reloaded with their own runtime, match the trained
model, and report their val metric next to the trained model's; int8 stays within a sane bound of
it on the sample data. `make test` runs one task per framework (a different one each);
`make test-full` (`pytest -m full`) runs every framework x task.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from .harness import FRAMEWORKS, SMALL_MODEL, TASKS, Project

pytestmark = pytest.mark.slow

QUICK = {"pytorch": "image", "tensorflow": "text", "jax": "tabular"}
COMBINATIONS = [(fw, task) for fw in FRAMEWORKS for task in TASKS]
RUNTIME = {"pytorch": "executorch", "tensorflow": "litert", "jax": "litert"}
NO_INT8 = {("jax", "text")}  # LiteRT's int8 kernels abort on jax2tf's exact GELU (mobile.py)
MODEL = {**SMALL_MODEL, "tabular": []}  # the default MLP: 40 steps of the smaller one learn less
SANE_INT8_DROP = 0.15  # accuracy points on the sample data's val split
LITERT_OPS = """
import sys
from ai_edge_litert.interpreter import Interpreter
details = Interpreter(model_path=sys.argv[1])._get_ops_details()
print(*sorted({op["op_name"] for op in details}))
"""


@dataclass
class Exported:
    project: Project
    checks: dict[str, dict[str, Any]]
    stdout: str


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(
            c,
            id=f"{c[0]}-{c[1]}",
            marks=[pytest.mark.xdist_group(f"mobile-{c[0]}-{c[1]}")]
            + ([] if QUICK[c[0]] == c[1] else [pytest.mark.full]),
        )
        for c in COMBINATIONS
    ],
)
def exported(request: pytest.FixtureRequest, baked_project) -> Exported:
    framework, task = request.param
    project = baked_project(framework, task, deploy="mobile")
    project.module("data", "sample", "--out", "data/sample")
    overrides = [
        *MODEL[task],
        "run.name=phone",
        "trainer.max_steps=40",
        "trainer.checkpoint_every=40",
        "data.num_workers=0",
        "log.tensorboard=false",
    ]
    project.module("train", *overrides, timeout=900)
    result = project.module(
        "mobile", "--checkpoint", "runs/phone", "--calibration", "64", "--max-drop", "0"
    )
    report = project.path / "runs" / "phone" / "export" / "export.json"
    checks = {check["format"]: check for check in json.loads(report.read_text())}
    return Exported(project, checks, result.stdout + result.stderr)


def test_models_reload_and_match_the_trained_model(exported: Exported) -> None:
    project = exported.project
    runtime = RUNTIME[project.framework]
    precisions = ["float32"] + ([] if (project.framework, project.task) in NO_INT8 else ["int8"])
    assert set(exported.checks) == {f"{runtime}_{p}" for p in precisions}
    export = project.path / "runs" / "phone" / "export"
    for check in exported.checks.values():
        assert (export / check["file"]).stat().st_size == check["bytes"], check
        assert check["max_abs_diff"] <= check["tolerance"], check
        assert 0 < check["latency_ms"] < 1000, check
    float32 = exported.checks[f"{runtime}_float32"]
    assert float32["tolerance"] == 1e-4
    assert float32["value"] == pytest.approx(float32["model_value"], abs=1e-6), float32


def test_int8_accuracy_is_reported_next_to_the_float_models(exported: Exported) -> None:
    int8 = exported.checks.get(f"{RUNTIME[exported.project.framework]}_int8")
    if int8 is None:
        assert (exported.project.framework, exported.project.task) in NO_INT8
        return
    assert int8["metric"] == "accuracy"  # the sample data are classification tasks
    assert int8["model_value"] >= 0.7, "the short training did not learn the sample"
    assert int8["value"] >= int8["model_value"] - SANE_INT8_DROP, int8
    assert (
        int8["bytes"] < exported.checks[f"{RUNTIME[exported.project.framework]}_float32"]["bytes"]
    )
    warned = f"WARNING: {int8['format']} " in exported.stdout
    assert warned == (int8["value"] < int8["model_value"]), exported.stdout  # --max-drop 0


def test_export_is_quiet(exported: Exported) -> None:
    """Only the command's own lines: no runtime info lines, cpuinfo or library warnings."""
    lines = [line for line in exported.stdout.splitlines() if line.strip()]
    formats = tuple(exported.checks)
    own = ("On-device models", "WARNING: ", *(f"  {f}" for f in formats), *formats)
    assert all(line.startswith(own) for line in lines), exported.stdout


def test_litert_models_hold_builtin_ops_only(exported: Exported) -> None:
    """No Flex (TensorFlow) ops, which the LiteRT runtimes of phones do not carry."""
    project = exported.project
    if RUNTIME[project.framework] != "litert":
        pytest.skip("ExecuTorch programs: the XNNPACK delegate is checked by running them")
    export = project.path / "runs" / "phone" / "export"
    for check in exported.checks.values():
        ops = project.run(str(project.env.python), "-c", LITERT_OPS, str(export / check["file"]))
        assert ops.stdout.strip() and "Flex" not in ops.stdout, ops.stdout
