"""`dlstart adopt`: give a project baked by plain cookiecutter the answers file updates need.

Cookiecutter records neither the template release nor (before dlstart wrote them into its
placeholder) the answers. Adoption settles both: answers from the placeholder, the project
layout and `--data`; the release given, or detected as the one whose rendering matches the
project best. The answers file copier writes for that rendering becomes the project's, so the
first `dlstart update` merges from exactly what the project was baked from.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlstart.answers import typed
from dlstart.errors import Refused, UsageError
from dlstart.project import Project
from dlstart.questions import ANSWER_NAMES, ANSWERS_FILE, TEMPLATE_QUESTIONS
from dlstart.template_repo import TemplateRepo

STRUCTURAL = ("framework", "task", "hardware")


@dataclass(frozen=True)
class Comparison:
    """How the template's files, rendered for one release, compare with the project's."""

    version: str
    same: list[str] = field(default_factory=list)
    differ: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def distance(self) -> int:
        return len(self.differ) + len(self.missing)


@dataclass(frozen=True)
class Adoption:
    comparison: Comparison
    answers: dict[str, Any]
    assumed: list[str]


def adopt(
    project: Project, repo: TemplateRepo, version: str | None, data: Mapping[str, str]
) -> Adoption:
    """Write the project's answers file for `version` (detected when None)."""
    if project.version:
        raise Refused(
            f"{project.name} already records template {project.version}: use `dlstart update`"
        )
    answers, assumed = gather_answers(project, data)
    if version:
        candidates = [repo.release(version)]
    else:  # the version the templates provide now first, then the others, newest first
        candidates = list(dict.fromkeys([*filter(None, [repo.current]), *reversed(repo.releases)]))
    if not candidates:
        raise Refused(f"{repo.where} has no release tags (such as v0.1.0)")
    with tempfile.TemporaryDirectory(prefix="dlstart-adopt-") as scratch:
        best = closest_release(repo, candidates, answers, project.path, Path(scratch))
        if not best.same:
            where = f"release {best.version}" if version else "any release"
            raise Refused(
                f"no file of the template matches {project.path} at {where}: is it a dlstart "
                "project, and are the answers right (--data key=value)?"
            )
        written = Path(scratch, best.version, ANSWERS_FILE)
        staged = project.path / f".{ANSWERS_FILE}.dlstart"
        shutil.copyfile(written, staged)
        os.replace(staged, project.path / ANSWERS_FILE)  # whole or not at all, even on Ctrl-C
    return Adoption(best, answers, assumed)


def closest_release(
    repo: TemplateRepo,
    candidates: list[str],
    answers: Mapping[str, Any],
    project: Path,
    scratch: Path,
) -> Comparison:
    """The candidate whose rendering differs least from the project (the first among equals,
    and the first that matches exactly), each rendered into `scratch/<tag>`."""
    comparisons = []
    for tag in candidates:
        repo.copy(scratch / tag, tag, answers)
        comparisons.append(compare(scratch / tag, project, tag))
        if comparisons[-1].distance == 0:
            break
    return min(comparisons, key=lambda comparison: comparison.distance)


def gather_answers(project: Project, data: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Answers from `--data`, else the placeholder, else the project's layout, else the
    question's default (listed as assumed). The structural ones cannot be assumed."""
    recorded = {k: v for k, v in (project.answers or {}).items() if k in ANSWER_NAMES}
    found = {**read_layout(project.path), **recorded, **data}
    missing = [key for key in STRUCTURAL if key not in found]
    if missing:
        flags = " ".join(f"--data {key}=..." for key in missing)
        raise UsageError(
            f"{project.name}: cannot tell its {', '.join(missing)}; give them: {flags}"
        )
    framework = found["framework"]
    origin = f"{project.name}'s answers"
    answers = {"framework": typed(framework, "framework", framework, origin)}
    for q in TEMPLATE_QUESTIONS:
        if q.name in found:
            answers[q.name] = typed(framework, q.name, found[q.name], origin)
    assumed = [q.name for q in TEMPLATE_QUESTIONS if q.name not in found]
    return answers, assumed


def read_layout(path: Path) -> dict[str, str]:
    """Answers the project's files still show: its package under src/, its Python version."""
    found: dict[str, str] = {}
    packages = list((path / "src").glob("*/__init__.py"))
    if len(packages) == 1:
        found["package_name"] = packages[0].parent.name
        found["project_slug"] = packages[0].parent.name.replace("_", "-")
    python_version = path / ".python-version"
    if python_version.is_file():
        found["python_version"] = python_version.read_text().strip()
    return found


def compare(rendered: Path, project: Path, version: str) -> Comparison:
    comparison = Comparison(version)
    for file in sorted(p for p in rendered.rglob("*") if p.is_file()):
        relative = file.relative_to(rendered).as_posix()
        if relative == ANSWERS_FILE or relative.startswith(".git/"):
            continue
        mine = project / relative
        if not mine.is_file():
            comparison.missing.append(relative)
        elif mine.read_bytes() == file.read_bytes():
            comparison.same.append(relative)
        else:
            comparison.differ.append(relative)
    return comparison
