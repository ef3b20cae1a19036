"""`dlstart update`: bring a later template release into a project without losing user edits.

Copier performs the three-way merge (the project's release rendered with its answers, the new
release rendered with the new answers, and the project as committed). dlstart adds what a
user needs around it: refusals that change nothing, files that stay put when a release drops
them but they are the user's (user-owned, or edited), a rollback when the merge fails midway,
and a summary of what changed, with the notices of the releases crossed (`Migration.notice`,
which the template's `migrations/notice.py` appends to `NOTES_FILE`).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import Version

from dlstart import git, interrupts
from dlstart.answers import typed
from dlstart.errors import DlstartError, Failed, Interrupted, Refused, UsageError
from dlstart.project import Project, require_clean_git, require_versioned
from dlstart.questions import GOAL_TARGETS, NOTES_FILE, USER_OWNED, default_deploy, with_targets
from dlstart.template_repo import TemplateRepo, environment, parse_version

CONFLICT_START, CONFLICT_END = "<<<<<<< ", ">>>>>>> "

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
    changes: list[git.Change] = field(default_factory=list)
    kept_owned: list[str] = field(default_factory=list)
    kept_edited: list[str] = field(default_factory=list)

    unresolved: dict[str, str] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    @property
    def conflicts(self) -> list[str]:
        return list(self.unresolved)


def check(project: Project, repo: TemplateRepo) -> Status:
    """Whether a newer release than the project's exists (reads tags only: no clone, no merge)."""
    require_versioned(project)
    current = _recorded_version(project)
    latest = repo.latest()
    newer = parse_version(latest)
    return Status(project.version or "", latest, newer is not None and newer > current)


def update(
    project: Project,
    repo: TemplateRepo,
    to: str | None = None,
    data: Mapping[str, str] | None = None,
) -> Outcome:
    """Merge release `to` (default: the latest) and the answer changes `data` into the project.

    Raises a DlstartError, with the project unchanged, on any refusal or failure.
    """
    require_versioned(project)
    changes = answer_changes(project, data or {})
    require_clean_git(project)
    current = _recorded_version(project)
    repo.require(project.version or "")
    target = repo.release(to) if to else repo.latest()
    if repo.releases[target] < current:
        where = (
            "" if to else f" ({repo.where} provides {target}: upgrade dlstart or use --template)"
        )
        raise Refused(
            f"{project.name} is at {project.version}, newer than {target}{where}: "
            "downgrades are not supported"
        )
    old = project.version or ""
    if repo.releases[target] == current:
        if not changes:
            return Outcome(old, old)
        target = old
    notes_before = _read_notes(project)
    with _rollback_on_error(project):
        _run_copier(project, repo, target, changes)
        kept_owned = git.deleted_matching(project.path, USER_OWNED)
        git.restore_paths(project.path, kept_owned)
        kept_edited = _keep_edited_deletions(project, repo)
    changes = git.changes(project.path)
    _remove_emptied_folders(project, changes)
    notices = new_notices(notes_before, _read_notes(project))
    return Outcome(
        old, target, changes, kept_owned, kept_edited, unresolved(project, changes), notices
    )


def _remove_emptied_folders(project: Project, changes: list[git.Change]) -> None:
    """Remove the folders the update's deletions left empty (a deployment target dropped:
    `web/`), never one that was empty before."""
    for change in changes:
        if change.kind != "deleted":
            continue
        folder = (project.path / change.path).parent
        while folder != project.path and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent


def _read_notes(project: Project) -> str:
    path = project.path / NOTES_FILE
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def new_notices(before: str, after: str) -> list[str]:
    """The notices the update appended to the notes file: `## ` headed sections."""
    kept = before.rstrip()
    added = after[len(kept) :] if after.startswith(kept) else after
    sections = (part.strip() for part in re.split(r"(?m)^(?=## )", added))
    return [section for section in sections if section.startswith("## ")]


def unresolved(project: Project, changes: list[git.Change]) -> dict[str, str]:
    """Every changed file left with conflict markers, and every `.rej` file, by path."""
    found: dict[str, str] = {}
    for change in changes:
        path = project.path / change.path
        if change.kind == "deleted" or not path.is_file():
            continue
        if change.path.endswith(".rej"):
            found[change.path] = "rejected changes (.rej): apply them by hand, then delete it"
        elif change.kind == "conflict" or _has_markers(path):
            found[change.path] = "conflict markers"
    return found


def _has_markers(path: Path) -> bool:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (UnicodeDecodeError, OSError):
        return False
    starts = any(line.startswith(CONFLICT_START) for line in lines)
    return starts and any(line.startswith(CONFLICT_END) for line in lines)


def answer_changes(project: Project, data: Mapping[str, str]) -> dict[str, Any]:
    """The `--data` answers that differ from the recorded ones, typed; refuses fixed ones.

    A new goal adds the deployment targets it calls for to the project's (`goal=browser` gives
    a mobile project its web page too), unless `deploy` is given as well.
    """
    recorded = project.answers or {}
    framework = project.framework or "pytorch"
    changes: dict[str, Any] = {}
    for key, value in data.items():
        new = typed(framework, key, value)
        if new == recorded.get(key):
            continue
        if key in FIXED_ON_UPDATE:
            reason = FIXED_ON_UPDATE[key].format(old=recorded.get(key), new=new)
            raise UsageError(f"cannot change {key} on update: {reason}")
        changes[key] = new
    if "goal" in changes and "deploy" not in data:
        # A project made before `deploy` existed has the API server: the default of its
        # unrecorded goal.
        deploy = recorded.get("deploy", default_deploy(recorded.get("goal")))
        added = with_targets(deploy, GOAL_TARGETS.get(changes["goal"], ()))
        if added != deploy:
            changes["deploy"] = added
    return changes


def _recorded_version(project: Project) -> Version:
    version = parse_version(project.version or "")
    if version is None:
        raise Refused(
            f"{project.name} records template commit {project.version!r}, which is not a "
            "version (an older dlstart generated it from a checkout without tags): delete the "
            "_commit line of .copier-answers.yml, commit, and run `dlstart adopt` once"
        )
    return version


def _keep_edited_deletions(project: Project, repo: TemplateRepo) -> list[str]:
    """Put back the files the merge deleted (the new release dropped them) that the user had
    edited; copier deletes them whatever their content. Renders the old release only when the
    merge deleted something."""
    deleted = [c.path for c in git.changes(project.path) if c.code == " D"]
    if not deleted:
        return []
    git.restore_paths(project.path, deleted)
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
        with repo.active(), environment({"DLSTART_UPDATE": "1"}):
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
        raise Failed(f"a template migration to {ref} failed ({error})") from error
    except ProcessExecutionError as error:
        raise Failed(f"git failed during the update: {error.stderr.strip()}") from error
    except (CopierError, ValueError) as error:
        raise Failed(f"copier refused the update: {error}") from error


@contextmanager
def _rollback_on_error(project: Project) -> Iterator[None]:
    """Return the (clean, checked) project to its last commit if the update does not finish."""
    try:
        yield
    except KeyboardInterrupt:
        with interrupts.held(deliver=False):
            git.restore(project.path)
        raise Interrupted("interrupted: the project was put back as it was") from None
    except BaseException as error:
        with interrupts.held(deliver=False):
            git.restore(project.path)
        if isinstance(error, DlstartError):
            raise type(error)(f"{error}\nNothing was changed.") from error
        raise
