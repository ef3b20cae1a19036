"""`make smoke` (python -m <pkg>.smoke) in every framework (issue 11), on this CPU machine: one
line per check in order, the training check with its samples/s; a project made for GPUs fails
at the first check, with exit status 1, when there is none."""

from __future__ import annotations

import re

import pytest

from .harness import FRAMEWORKS

pytestmark = pytest.mark.slow

CHECKS = ["runtime", "devices", "bf16", "all-reduce", "training"]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_smoke_runs_every_check_on_the_cpu(baked_project, framework: str) -> None:
    project = baked_project(framework, "tabular", hardware="cpu")
    result = project.module("smoke", "--steps", "3", "data.num_workers=0")
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [f"ok   {check}" for check in CHECKS]
    assert re.fullmatch(r"ok   training: 3 bf16 steps, loss [\d.]+, [\d,.]+ samples/s", lines[-1])


def test_smoke_fails_at_the_first_check_without_the_projects_gpu(baked_project) -> None:
    project = baked_project("pytorch", "tabular", hardware="gpu")
    result = project.module("smoke", check=False)
    assert result.returncode == 1
    assert result.stdout.startswith("FAIL runtime: torch ") and len(result.stdout.splitlines()) == 1
