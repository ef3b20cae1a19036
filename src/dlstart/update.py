"""`dlstart update`: bring a later template release into a project without losing user edits.

Copier performs the three-way merge (the project's release rendered with its answers, the new
release rendered with the new answers, and the project as committed). dlstart adds what a
user needs around it: refusals that change nothing, files that stay put when a release drops
them but they are the user's (user-owned, or edited), a rollback when the merge fails midway,
and a summary of what changed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import Version

from dlstart import gitutil
from dlstart.answers import typed
from dlstart.errors import UserError
from dlstart.project import Project, require_clean_git, require_versioned
from dlstart.questions import USER_OWNED
from dlstart.template_repo import DESCRIBED, TemplateRepo, parse_version

FIXED_ON_UPDATE = {
    "framework": "the project's code is written for {old}; start a new project with "
    "`dlstart new` (framework {new}) and move your code over",
    "project_slug": "rename the project by hand (folder, pyproject name), set project_slug "
    "in .copier-answers.yml in the same commit, then update",
    "package_name": "rename the package by hand (`git mv src/{old} src/{new}`, imports), set "
    "package_name in .copier-answers.yml in the same commit, then update",
}


@dataclass(frozen=True)
class Status:
    current: str
    latest: str
    behind: bool


@dataclass(frozen=True)
class Outcome:
    old: str
    new: str
    changes: list[gitutil.Change] = field(default_factory=list)
    kept_owned: list[str] = field(default_factory=list)
    kept_edited: list[str] = field(default_factory=list)

    @property
    def conflicts(self) -> list[str]:
        return [c.path for c in self.changes if c.kind == "conflict"]


def check(project: Project, repo: TemplateRepo) -> Status:
    """Whether a newer release than the project's exists (reads tags only: no clone, no merge)."""
    require_versioned(project)
    current = _recorded_version(project)
    latest = repo.latest()
    return Status(project.version or "", latest, repo.releases[latest] > current)


def update(
    project: Project,
    repo: TemplateRepo,
    to: str | None = None,
    data: Mapping[str, str] | None = None,
) -> Outcome:
    """Merge release `to` (default: the latest) and the answer changes `data` into the project.

    Raises UserError, with the project unchanged, on any refusal or failure.
    """
    require_versioned(project)
    changes = answer_changes(project, data or {})
    require_clean_git(project)
    current = _recorded_version(project)
    _require_known(project, repo)
    target = repo.release(to) if to else repo.latest()
    if repo.releases[target] < current:
        raise UserError(
            f"{project.name} is at {project.version}, newer than {target}: "
            "downgrades are not supported"
        )
    old = project.version or ""
    if repo.releases[target] == current:
        if not changes:
            return Outcome(old, old)
        target = old
    with _rollback_on_error(project):
        _run_copier(project, repo, target, changes)
        kept_owned = gitutil.deleted_matching(project.path, USER_OWNED)
        gitutil.restore_paths(project.path, kept_owned)
        kept_edited = _keep_edited_deletions(project, repo)
    return Outcome(old, target, gitutil.changes(project.path), kept_owned, kept_edited)


def answer_changes(project: Project, data: Mapping[str, str]) -> dict[str, Any]:
    """The `--data` answers that differ from the recorded ones, typed; refuses fixed ones."""
    recorded = project.answers or {}
    framework = project.framework or "pytorch"
    changes: dict[str, Any] = {}
    for key, value in data.items():
        new = typed(framework, key, value)
        if new == recorded.get(key):
            continue
        if key in FIXED_ON_UPDATE:
            reason = FIXED_ON_UPDATE[key].format(old=recorded.get(key), new=new)
            raise UserError(f"cannot change {key} on update: {reason}")
        changes[key] = new
    return changes


def _recorded_version(project: Project) -> Version:
    version = parse_version(project.version or "")
    if version is None:
        raise UserError(
            f"{project.name} records template commit {project.version!r}, which is not a "
            "release: generate projects from tagged releases so that they can be updated"
        )
    return version


def _require_known(project: Project, repo: TemplateRepo) -> None:
    """Refuse early when the merge base, the project's release, is missing from `repo`."""
    version = project.version or ""
    if not DESCRIBED.match(version) and version not in repo.releases:
        raise UserError(
            f"{project.name} comes from template {version}, which {repo.where} does not have "
            f"(releases: {', '.join(repo.releases) or 'none'}); a checkout that lacks it "
            "needs `git fetch --tags`"
        )


def _keep_edited_deletions(project: Project, repo: TemplateRepo) -> list[str]:
    """Put back the files the merge deleted (the new release dropped them) that the user had
    edited; copier deletes them whatever their content. Renders the old release only when the
    merge deleted something."""
    deleted = [c.path for c in gitutil.changes(project.path) if c.code == " D"]
    if not deleted:
        return []
    gitutil.restore_paths(project.path, deleted)
    answers = {k: v for k, v in (project.answers or {}).items() if not k.startswith("_")}
    with tempfile.TemporaryDirectory(prefix="dlstart-base-") as scratch:
        base = Path(scratch, "base")
        repo.copy(base, project.version or "", answers)
        edited = [path for path in deleted if _differs(base / path, project.path / path)]
    for path in set(deleted) - set(edited):
        (project.path / path).unlink()
    return edited


def _differs(base: Path, mine: Path) -> bool:
    return not base.is_file() or base.read_bytes() != mine.read_bytes()


def _run_copier(project: Project, repo: TemplateRepo, ref: str, data: Mapping[str, Any]) -> None:
    import copier
    from copier.errors import CopierError, TaskError
    from plumbum import ProcessExecutionError

    try:
        with repo.active():
            copier.run_update(
                project.path,
                data=dict(data),
                vcs_ref=ref,
                defaults=True,
                overwrite=True,
                quiet=True,
                unsafe=True,
                conflict="inline",
            )
    except TaskError as error:
        raise UserError(f"a template migration to {ref} failed ({error})") from error
    except ProcessExecutionError as error:
        raise UserError(f"git failed during the update: {error.stderr.strip()}") from error
    except (CopierError, ValueError) as error:
        raise UserError(f"copier refused the update: {error}") from error


@contextmanager
def _rollback_on_error(project: Project) -> Iterator[None]:
    """Return the (clean, checked) project to its last commit if the update does not finish."""
    try:
        yield
    except BaseException as error:
        gitutil.restore(project.path)
        if isinstance(error, UserError):
            raise UserError(f"{error}\nNothing was changed.") from error
        raise
