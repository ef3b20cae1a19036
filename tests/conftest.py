"""Fixtures for running generated projects (see harness.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from harness import TEMPLATES, Project, answers, framework_env


@pytest.fixture(scope="session")
def baked_project(cookies_session) -> Callable[[str, str], Project]:
    """Bake `templates/<framework>` for a task with pytest-cookies, with its environment."""

    def bake(framework: str, task: str, **extra: object) -> Project:
        result = cookies_session.bake(
            extra_context=answers(task, **extra), template=str(TEMPLATES / framework)
        )
        assert result.exit_code == 0, result.exception
        return Project(result.project_path, framework, task, framework_env(framework))

    return bake


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep each framework x task's tests on one xdist worker, so its fixtures are built once."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "project" in callspec.params:
            framework, task = callspec.params["project"]
            item.add_marker(pytest.mark.xdist_group(f"{framework}-{task}"))
